#!/usr/bin/python3
"""StarlingX's own calls against Cairn: python-cinderclient over a keystoneauth session that adds `wrs-header: true`
to every request, actions sent with `cs.volumes._action(...)` as the StarlingX client sends them, and raw openstacksdk
calls for the wrs fields (openstacksdk's Resource objects drop unknown keys).

Credentials come from the OS_* environment (password auth through Cairn's identity service). Run by
tests/Cairn.Integration.Tests/BlockStorage/StarlingXToolTests.cs:
    starlingx_client.py create NAME            -> prints the new volume's id
    starlingx_client.py export VOL             -> waits until it is no longer exporting; prints backup_status
    starlingx_client.py import VOL FILE        -> the StarlingX CLI's checks on FILE, then the action; prints backup_status
    starlingx_client.py sdk VOL                -> raw openstacksdk calls with and without wrs-header
On a failed check it prints what was expected and exits 1.
"""
import json
import os
import sys
import time

from cinderclient import client as cinder_client
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


def check(cond, what):
    if not cond:
        print("FAILED: " + what, file=sys.stderr)
        sys.exit(1)


def cinder():
    auth = v3.Password(auth_url=os.environ["OS_AUTH_URL"], username=os.environ["OS_USERNAME"], password=os.environ["OS_PASSWORD"],
                       project_name=os.environ["OS_PROJECT_NAME"], user_domain_name="Default", project_domain_name="Default")
    sess = ks_session.Session(auth=auth, additional_headers={"wrs-header": "true"})
    return cinder_client.Client("3", session=sess)


def wait(cs, vol_id, transitional):
    deadline = time.time() + 300
    while True:
        v = cs.volumes.get(vol_id)
        if v.status != transitional:
            return v
        check(time.time() < deadline, f"volume {vol_id} still {transitional} after 300 s")
        time.sleep(0.2)


def main():
    cmd = sys.argv[1]
    cs = cinder()
    if cmd == "create":
        v = cs.volumes.create(size=1, name=sys.argv[2])
        v = wait(cs, v.id, "creating")
        check(v.status == "available", f"created volume status {v.status}")
        print(v.id)
    elif cmd == "export":
        vol = cs.volumes.get(sys.argv[2])
        resp, body = cs.volumes._action("wrs-volume:os-volume_export", vol)
        check(resp.status_code in (200, 202), f"export answered {resp.status_code}")
        check(body["wrs-volume:os-volume_export"]["status"] == "exporting", f"export answer {body}")
        v = wait(cs, vol.id, "exporting")
        status = v._info.get("wrs-volume:backup_status")
        check(status is not None and status.startswith("Export completed at "), f"backup_status after export: {status}")
        check(v.status == "available", f"status after export: {v.status}")
        print(status)
    elif cmd == "import":
        vol = cs.volumes.get(sys.argv[2])
        file_name = sys.argv[3]
        # The StarlingX CLI's own checks of the name, and the volume id it takes from it.
        check(file_name.startswith("volume-") and file_name.endswith(".tgz") and len(file_name) >= 28, f"{file_name} is not an archive name")
        check(file_name[7:-20] == vol.id, f"{file_name}[7:-20] is {file_name[7:-20]}, not {vol.id}")
        resp, body = cs.volumes._action("wrs-volume:os-volume_import", vol, {"file_name": file_name})
        check(resp.status_code in (200, 202), f"import answered {resp.status_code}")
        check(body["wrs-volume:os-volume_import"]["status"] == "importing", f"import answer {body}")
        v = wait(cs, vol.id, "importing")
        status = v._info.get("wrs-volume:backup_status")
        check(v.status == "available", f"status after import: {v.status} ({status})")
        check(status is not None and status.startswith("Import completed at "), f"backup_status after import: {status}")
        print(status)
    elif cmd == "sdk":
        import openstack
        conn = openstack.connect()
        vol_id = sys.argv[2]
        with_header = conn.block_storage.get(f"/volumes/{vol_id}", headers={"wrs-header": "true"}).json()["volume"]
        check("wrs-volume:backup_status" in with_header, f"no backup_status with wrs-header: {sorted(with_header)}")
        plain = conn.block_storage.get(f"/volumes/{vol_id}").json()["volume"]
        check(not any(k.startswith("wrs-") for k in plain), f"wrs fields without the header: {sorted(plain)}")
        detail = conn.block_storage.get("/volumes/detail", headers={"wrs-header": "true"}).json()["volumes"]
        mine = [v for v in detail if v["id"] == vol_id]
        check(len(mine) == 1 and mine[0]["wrs-volume:backup_status"] == with_header["wrs-volume:backup_status"], "detail differs from show")
        ext = conn.block_storage.get("/extensions").json()["extensions"]
        check({"wrs-volume", "wrs-snapshot"} <= {e["alias"] for e in ext}, "extensions lack wrs-volume/wrs-snapshot")
        sdk_vol = conn.block_storage.get_volume(vol_id)
        check(sdk_vol.status == "available", f"sdk volume status {sdk_vol.status}")
        print(json.dumps({"backup_status": with_header["wrs-volume:backup_status"]}))
    else:
        check(False, "unknown command " + cmd)


if __name__ == "__main__":
    main()
