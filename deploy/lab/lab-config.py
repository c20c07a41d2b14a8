#!/usr/bin/python3
"""Writes an inventory, a variables file and a generated SSH key for a running lab (plain ansible-playbook use).

  lab-config.py LAB_JSON OUTDIR [--storage 3] [--access 3] [--replica 3] [--block sdc]

The first --storage hosts are storage nodes (node_s1…), the next --access hosts access nodes (node_a1…), with VIPs
.101… and bridge_vip .100 of the lab's network. OUTDIR gets inventory.ini, qs_installer_env_config.yml, id_ed25519
(+.pub) and password (the lab's root password, for step1's --connection-password-file).
"""
import argparse
import json
import os
import subprocess

ap = argparse.ArgumentParser()
ap.add_argument("lab_json")
ap.add_argument("outdir")
ap.add_argument("--storage", type=int, default=3)
ap.add_argument("--access", type=int, default=3)
ap.add_argument("--replica", type=int, default=3)
ap.add_argument("--block", default="sdc")
a = ap.parse_args()

lab = json.load(open(a.lab_json))
hosts = lab["hosts"]
if a.storage + a.access > len(hosts):
    raise SystemExit(f"the lab has {len(hosts)} hosts, {a.storage + a.access} needed")
os.makedirs(a.outdir, exist_ok=True)
key = os.path.join(a.outdir, "id_ed25519")
if not os.path.exists(key):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cairn-lab-installer", "-f", key], check=True)
storage = [(f"node_s{i + 1}", h) for i, h in enumerate(hosts[:a.storage])]
access = [(f"node_a{i + 1}", h) for i, h in enumerate(hosts[a.storage:a.storage + a.access])]
prefix = lab["network"].rsplit(".", 1)[0]

with open(os.path.join(a.outdir, "inventory.ini"), "w") as f:
    f.write("[storage]\n")
    for n, h in storage:
        f.write(f"{n} ansible_host={h['address']} ansible_port={h.get('port', 22)}\n")
    f.write("\n[access]\n")
    for n, h in access:
        f.write(f"{n} ansible_host={h['address']} ansible_port={h.get('port', 22)}\n")
    f.write(f"\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file={os.path.abspath(key)}\n")

env = {
    "qs_conf": {"firstbox": lab["controller_address"], "with_iaas": False, "zone_id": "lab",
                "iaas_domain": "lab.test", "global_domain": "stor.lab.test", "qs_network": [lab["network"]],
                "use_cassandra": False},
    "access_nodes": {"intranet": {"interface": lab["interface"], "nodes": [n for n, _ in access],
                                  "vips": [f"{prefix}.{101 + i}" for i in range(len(access))],
                                  "bridge_vip": f"{prefix}.100"}},
    "storage_nodes": [{"cluster_id": 0, "volume": "vol0", "vol_type": "replicate", "ec_type": 2,
                       "replica": a.replica, "raid": False, "storage_class": "standard", "readonly": False,
                       "brick_count": len(a.block.split(",")), "block": a.block, "nodes": [n for n, _ in storage]}],
    "cairn_ssh_public_key": open(key + ".pub").read().strip(),
}
# JSON is YAML
with open(os.path.join(a.outdir, "qs_installer_env_config.yml"), "w") as f:
    json.dump(env, f, indent=2)
with open(os.path.join(a.outdir, "password"), "w") as f:
    os.fchmod(f.fileno(), 0o600)
    f.write(hosts[0]["password"] + "\n")
print(os.path.abspath(a.outdir))
