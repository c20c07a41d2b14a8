#!/usr/bin/python3
"""A Block Storage lifecycle through openstacksdk (python3-openstacksdk) against Cairn.

Credentials come from the OS_* environment (password auth through Cairn's identity service). Every step is checked
here; on the first failure the script prints what was expected and what came back, and exits 1.
Run by tests/Cairn.Integration.Tests/BlockStorage/ClientTests.cs; by hand:
    OS_AUTH_URL=http://127.0.0.1:8776/identity/v3 OS_USERNAME=… OS_PASSWORD=… OS_PROJECT_NAME=… \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default /usr/bin/python3 tests/clients/sdk_lifecycle.py PREFIX
"""
import sys

import openstack


def check(cond, what):
    if not cond:
        print("FAILED: " + what, file=sys.stderr)
        sys.exit(1)


def main():
    prefix = sys.argv[1] if len(sys.argv) > 1 else "sdk"
    conn = openstack.connect()
    bs = conn.block_storage

    vol = bs.create_volume(name=prefix + "-v1", size=1, metadata={"a": "1"})
    vol = bs.wait_for_status(vol, status="available", failures=["error"], interval=1, wait=120)
    check(vol.size == 1 and vol.name == prefix + "-v1", f"created volume: size {vol.size}, name {vol.name}")
    check(vol.metadata == {"a": "1"}, f"created volume metadata: {vol.metadata}")

    bs.extend_volume(vol, 2)
    vol = bs.wait_for_status(bs.get_volume(vol.id), status="available", failures=["error", "error_extending"], interval=1, wait=120)
    check(vol.size == 2, f"extended volume has size {vol.size}, not 2")

    snap = bs.create_snapshot(volume_id=vol.id, name=prefix + "-s1")
    snap = bs.wait_for_status(snap, status="available", failures=["error"], interval=1, wait=120)
    check(snap.volume_id == vol.id and snap.size == 2, f"snapshot: volume_id {snap.volume_id}, size {snap.size}")
    check(any(s.id == snap.id for s in bs.snapshots(details=True)), "the snapshot is not in the snapshot list")

    from_snap = bs.wait_for_status(bs.create_volume(name=prefix + "-v2", snapshot_id=snap.id), status="available",
                                   failures=["error"], interval=1, wait=120)
    check(from_snap.snapshot_id == snap.id and from_snap.size == 2, f"volume from snapshot: snapshot_id {from_snap.snapshot_id}, size {from_snap.size}")
    from_vol = bs.wait_for_status(bs.create_volume(name=prefix + "-v3", source_volume_id=vol.id, size=3), status="available",
                                  failures=["error"], interval=1, wait=120)
    check(from_vol.source_volume_id == vol.id and from_vol.size == 3, f"volume from volume: source {from_vol.source_volume_id}, size {from_vol.size}")

    # By id: openstacksdk 0.101's set_metadata keeps only the keys it sent in the local object, so deleting "a"
    # from that same object raises KeyError before any request is made (a client bug, not the server's answer).
    bs.set_volume_metadata(vol.id, b="2")
    bs.delete_volume_metadata(vol.id, keys=["a"])
    check(bs.get_volume(vol.id).metadata == {"b": "2"}, f"metadata after set b, delete a: {bs.get_volume(vol.id).metadata}")

    names = {v.name for v in bs.volumes(details=True)}
    check({prefix + "-v1", prefix + "-v2", prefix + "-v3"} <= names, f"volume list {sorted(names)} lacks one of the three")

    # The snapshot first, though a volume was made from it (Cairn defers the engine's part), then every volume.
    bs.delete_snapshot(snap)
    bs.wait_for_delete(snap, interval=1, wait=120)
    for v in (from_snap, from_vol, vol):
        bs.delete_volume(v)
    for v in (from_snap, from_vol, vol):
        bs.wait_for_delete(v, interval=1, wait=120)
    left = {v.name for v in bs.volumes(details=True)} & {prefix + "-v1", prefix + "-v2", prefix + "-v3"}
    check(not left, f"deleted volumes still listed: {sorted(left)}")
    check(bs.find_snapshot(snap.id) is None, "the deleted snapshot is still found")
    print("sdk lifecycle ok: create, wait_for_status, extend, snapshot, from snapshot, from volume, metadata, delete, wait_for_delete")


if __name__ == "__main__":
    main()
