#!/usr/bin/python3
"""Checks the variables file against the inventory before any host is touched (step0); prints every problem.

Input on stdin: {"vars": {qs_conf, access_nodes, storage_nodes}, "hosts": {name: {"groups": [...], "address": ...}}}.
"""
import ipaddress
import json
import sys


def main():
    data = json.load(sys.stdin)
    v, hosts = data["vars"], data["hosts"]
    problems = []
    if "ansible_ssh_pass" in (v.get("qs_conf") or {}):
        problems.append("qs_conf.ansible_ssh_pass must not be in the variables file (step1 takes the password "
                        "as the connection password, nothing else needs it)")
    nets = []
    for c in (v.get("qs_conf") or {}).get("qs_network") or []:
        try:
            nets.append(ipaddress.ip_network(c, strict=False))
        except ValueError:
            problems.append(f"qs_conf.qs_network: {c!r} is not a CIDR")

    def node_id(n):
        return str(n["node_id"] if isinstance(n, dict) else n)

    def in_group(n, group, where):
        if n not in hosts:
            problems.append(f"{where}: node {n!r} is not in the inventory")
        elif group not in hosts[n]["groups"]:
            problems.append(f"{where}: node {n!r} is not in the inventory group '{group}'")

    intranet = ((v.get("access_nodes") or {}).get("intranet")) or {}
    anodes = [node_id(n) for n in intranet.get("nodes") or []]
    vips = [str(x) for x in intranet.get("vips") or []]
    for n in anodes:
        in_group(n, "access", "access_nodes.intranet.nodes")
    if len(set(anodes)) != len(anodes):
        problems.append("access_nodes.intranet.nodes: a node is listed twice")
    if len(vips) != len(anodes):
        problems.append(f"access_nodes.intranet.vips: {len(vips)} VIPs for {len(anodes)} access nodes (one each)")
    allvips = vips + ([str(intranet["bridge_vip"])] if intranet.get("bridge_vip") else [])
    if len(set(allvips)) != len(allvips):
        problems.append("access_nodes.intranet: a VIP (or bridge_vip) is listed twice")
    addresses = {h: i["address"] for h, i in hosts.items()}
    for ip in allvips:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            problems.append(f"access_nodes.intranet: {ip!r} is not an IP address")
            continue
        if nets and not any(a in n for n in nets):
            problems.append(f"access_nodes.intranet: VIP {ip} is not inside qs_network {[str(n) for n in nets]}")
        for h, addr in addresses.items():
            if addr == ip:
                problems.append(f"access_nodes.intranet: VIP {ip} is the address of host {h}")
    if anodes and not intranet.get("interface"):
        problems.append("access_nodes.intranet.interface is missing")

    volumes = {}
    for idx, e in enumerate(v.get("storage_nodes") or []):
        where = f"storage_nodes[{idx}]"
        name = str(e.get("volume") or f"vol{e.get('cluster_id', 0)}")
        nodes = [node_id(n) for n in e.get("nodes") or []]
        if not nodes:
            problems.append(f"{where}.nodes is empty")
        for n in nodes:
            in_group(n, "storage", f"{where}.nodes")
        if len(set(nodes)) != len(nodes):
            problems.append(f"{where}.nodes: a node is listed twice")
        block = e.get("block") or ""
        devs = [d.strip() for d in (block.split(",") if isinstance(block, str) else block) if d.strip()]
        count = int(e.get("brick_count", len(devs)))
        if count < 1 or count > len(devs):
            problems.append(f"{where}: brick_count {count} needs that many devices in block ({len(devs)} given)")
        vt = e.get("vol_type", "replicate")
        if vt == "replicate":
            size = int(e.get("replica", 1))
            if size < 1:
                problems.append(f"{where}.replica must be at least 1")
        elif vt == "disperse":
            n_, m_ = int(e.get("disperse", 0)), int(e.get("redundancy", 0))
            size = n_
            if not (n_ >= 3 and m_ >= 1 and 2 * m_ < n_):
                problems.append(f"{where}: disperse {n_} redundancy {m_} breaks n >= 3, m >= 1, 2m < n")
        else:
            problems.append(f"{where}.vol_type {vt!r} is neither replicate nor disperse")
            continue
        vol = volumes.setdefault(name, {"type": vt, "size": size, "bricks": []})
        if (vol["type"], vol["size"]) != (vt, size):
            problems.append(f"{where}: volume {name} is {vol['type']} with sets of {vol['size']} in an earlier entry")
        entry = [(n, d) for d in devs[:max(count, 0)] for n in nodes]
        if size > 0 and len(entry) % size:
            problems.append(f"{where}: {len(entry)} bricks is not a multiple of the set size {size}")
        for s in range(0, len(entry) - len(entry) % size if size else 0, size or 1):
            ns = [n for n, _ in entry[s:s + size]]
            if len(set(ns)) != len(ns):
                problems.append(f"{where}: a {vt} set would have two bricks on one node ({', '.join(ns)})")
        for b in entry:
            if b in vol["bricks"]:
                problems.append(f"{where}: device {b[1]} of {b[0]} is already a brick of {name}")
        vol["bricks"] += entry
    if "storage" not in {g for i in hosts.values() for g in i["groups"]}:
        problems.append("the inventory has no host in group 'storage'")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(json.dumps({"volumes": {k: len(x["bricks"]) for k, x in volumes.items()}, "vips": allvips}))


main()
