#!/usr/bin/env bash
# A lab of N hosts on this machine for the installer playbooks (deploy/ansible): each host is a network namespace
# plus private mount, UTS and PID namespaces (tmpfs /run, /tmp and /dev; overlays on /etc, /root, /var and /srv),
# with its own address on a bridge inside a controller namespace, an sshd (password and key login) and block devices
# made of loop devices on sparse files, named like real disks (/dev/sdc, /dev/sdd). See deploy/lab/README.md.
#
#   lab.sh up --hosts N [--devices sdc,sdd] [--device-size 2G] [--network 10.251.0.0/24]   → JSON on stdout
#   lab.sh exec HOST CMD…        run CMD on HOST (all of its namespaces)
#   lab.sh ctl CMD…              run CMD in the controller namespace (where ansible and clients must run)
#   lab.sh status                the JSON of the running lab
#   lab.sh down                  remove everything the lab made (idempotent)
# --name NAME (or CAIRN_LAB_NAME, default cairnlab) lets several labs coexist; state lives in
# ${CAIRN_LAB_DIR:-/tmp/cairn-lab}/NAME (not under /etc, /root, /var or /srv: those are overlaid in each host).
set -euo pipefail

PY=/usr/bin/python3
NAME=${CAIRN_LAB_NAME:-cairnlab}
BASE_DIR=${CAIRN_LAB_DIR:-/tmp/cairn-lab}

die() { echo "lab.sh: $*" >&2; exit 1; }
log() { echo "lab.sh: $*" >&2; }

while [ $# -gt 0 ]; do   # global options come before the command
  case "$1" in
    --name) [ $# -ge 2 ] || die "--name NAME"; NAME=$2; shift 2 ;;
    --name=*) NAME=${1#--name=}; shift ;;
    *) break ;;
  esac
done
[[ "$NAME" =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "--name must be 1-12 lower-case letters or digits, starting with a letter"
case "$(readlink -m "$BASE_DIR")/" in /etc/*|/root/*|/var/*|/srv/*|/run/*|/dev/*) die "CAIRN_LAB_DIR may not be under /etc, /root, /var, /srv, /run or /dev (each host overlays them)" ;; esac
STATE=$(readlink -m "$BASE_DIR")/$NAME
CTL=$NAME-ctl

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, loop devices, mounts)"

ours() {  # pids of every process whose command line names this lab's state dir (inits and their unshare parents)
  local p
  for p in /proc/[0-9]*; do
    [ -r "$p/cmdline" ] && tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -F -- "$STATE/hosts/${1:-}" >/dev/null && echo "${p#/proc/}"
  done
  return 0
}

host_pid() {  # pid (in the root PID namespace) of HOST's init, or nothing
  local f=$STATE/hosts/$1/init.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  # only a process we started: its command line carries our state dir
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$STATE/hosts/$1/" >/dev/null; then echo "$pid"; fi
}

in_host() {  # in_host HOST CMD…
  local pid; pid=$(host_pid "$1")
  [ -n "$pid" ] || die "no running host '$1' in lab '$NAME'"
  shift
  exec nsenter --target "$pid" --mount --uts --net --pid --wd=/ -- "$@"
}

cmd_up() {
  local hosts="" devices="sdc,sdd" size="2G" network="10.251.0.0/24"
  while [ $# -gt 0 ]; do
    case "$1" in
      --hosts) hosts=$2; shift 2 ;;
      --devices) devices=$2; shift 2 ;;
      --device-size) size=$2; shift 2 ;;
      --network) network=$2; shift 2 ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  [[ "$hosts" =~ ^[1-9][0-9]?$ ]] && [ "$hosts" -le 60 ] || die "up: --hosts N (1-60) is required"
  [[ "$devices" =~ ^[a-z][a-z0-9]*(,[a-z][a-z0-9]*)*$ ]] || die "up: --devices is a comma-separated list of device names (sdc,sdd)"
  [[ "$size" =~ ^[1-9][0-9]*[MG]$ ]] || die "up: --device-size like 2G or 512M"
  if [ -e "$STATE" ] || [ -n "$(ip netns list | grep "^$NAME-")" ]; then die "lab '$NAME' exists; run 'lab.sh down' first"; fi

  # Network safety: a private /24 that no root-namespace interface has an address in; nothing of the lab is ever
  # addressed from the root namespace, and the controller namespace has no default route.
  local prefix
  prefix=$($PY - "$network" <<'EOF'
import ipaddress, subprocess, sys, json
net = ipaddress.ip_network(sys.argv[1], strict=True)
if net.version != 4 or net.prefixlen != 24 or not net.is_private:
    sys.exit("lab.sh: --network must be a private IPv4 /24 (e.g. 10.251.0.0/24)")
for link in json.loads(subprocess.check_output(["ip", "-j", "-4", "addr"])):
    for a in link.get("addr_info", []):
        iface = ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
        if iface.ip in net or iface.network.overlaps(net):
            sys.exit(f"lab.sh: {net} overlaps {iface} on root interface {link['ifname']}")
print(str(net.network_address).rsplit(".", 1)[0])
EOF
) || exit 1
  local password; password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p "$STATE/hosts"
  echo "$network" >"$STATE/network"
  echo "$password" >"$STATE/password"; chmod 600 "$STATE/password"
  echo "$devices" >"$STATE/devices"

  trap 'if [ $? -ne 0 ]; then log "up failed; removing what it made"; cmd_down >/dev/null 2>&1 || true; fi' EXIT
  ip netns add "$CTL"
  ip -n "$CTL" link set lo up
  ip -n "$CTL" link add br0 type bridge
  ip -n "$CTL" addr add "$prefix.1/24" dev br0
  ip -n "$CTL" link set br0 up
  [ -z "$(ip -n "$CTL" route show default)" ] || die "controller namespace has a default route"

  local i
  for i in $(seq 1 "$hosts"); do make_host "h$i" "$prefix.$((10 + i))" "$devices" "$size" "$password"; done
  for i in $(seq 1 "$hosts"); do wait_ssh "h$i" "$prefix.$((10 + i))"; done
  trap - EXIT
  cmd_status
}

make_host() {  # make_host NAME ADDRESS DEVICES SIZE PASSWORD
  local h=$1 addr=$2 devices=$3 size=$4 password=$5 ns=$NAME-$1 dir=$STATE/hosts/$1
  mkdir -p "$dir"/{etc.upper,etc.work,root.upper,root.work,var.upper,var.work,srv.upper,srv.work,disks}
  echo "$addr" >"$dir/address"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$CTL" link add "v$h" type veth peer name eth0 netns "$ns"
  ip -n "$CTL" link set "v$h" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  [[ "$(ip -n "$CTL" addr show br0)" == *"inet "* ]] || die "bridge lost its address"

  # block devices: sparse files on loop devices; inside the host they are block nodes named like disks
  local d devmap=""
  for d in ${devices//,/ }; do
    truncate -s "$size" "$dir/disks/$d.img"
    local loop; loop=$(losetup -f --show "$dir/disks/$d.img")
    devmap+="$d:$(stat -c '%t:%T' "$loop") "
    echo "$loop" >"$dir/disks/$d.loop"
  done

  ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$dir/ssh_host_ed25519_key"
  cat >"$dir/sshd_config" <<EOF
ListenAddress $addr
Port 22
HostKey /run/lab/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
StrictModes no
UsePAM no
UseDNS no
MaxStartups 100
MaxSessions 50
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  printf '%s\n' "$password" >"$dir/password"; chmod 600 "$dir/password"

  # The host's init: its own mount, UTS and PID namespaces inside its network namespace. It makes the private
  # mounts, sets the root password in the private /etc, starts sshd and then only reaps children. Killing it ends
  # every process of the host and drops its mounts.
  setsid ip netns exec "$ns" unshare --mount --uts --pid --fork --mount-proc --propagation private \
    /bin/bash "$(dirname "$(readlink -f "$0")")/host-init.sh" "$dir/" "$h" "$devmap" \
    </dev/null >"$dir/init.log" 2>&1 &
  echo $! >"$dir/unshare.pid"
}

record_init() {  # the host's init (PID 1 inside) is the one child of its unshare, once it has said it is ready
  local u; u=$(cat "$STATE/hosts/$1/unshare.pid")
  local pid; pid=$(awk '{print $1}' "/proc/$u/task/$u/children" 2>/dev/null)
  [ -n "$pid" ] || die "host $1: init is gone (see $STATE/hosts/$1/init.log)"
  echo "$pid" >"$STATE/hosts/$1/init.pid"
}

wait_ssh() {  # wait until HOST's sshd accepts connections, from the controller namespace
  local h=$1 addr=$2 n
  for n in $(seq 1 300); do
    [ -f "$STATE/hosts/$h/ready" ] && [ ! -f "$STATE/hosts/$h/init.pid" ] && record_init "$h"
    [ -f "$STATE/hosts/$h/ready" ] && ip netns exec "$CTL" timeout 1 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null && return 0
    [ -f "$STATE/hosts/$h/failed" ] && die "host $h: $(cat "$STATE/hosts/$h/failed") (see $STATE/hosts/$h/init.log)"
    sleep 0.1
  done
  die "host $h: sshd does not answer on $addr:22 (see $STATE/hosts/$h/init.log)"
}

cmd_status() {
  [ -d "$STATE/hosts" ] || die "no lab '$NAME'"
  $PY - "$STATE" "$CTL" <<'EOF'
import json, os, sys
state, ctl = sys.argv[1], sys.argv[2]
hosts = []
names = sorted(os.listdir(f"{state}/hosts"), key=lambda n: int(n[1:]))
for h in names:
    d = f"{state}/hosts/{h}"
    hosts.append({"name": h, "address": open(f"{d}/address").read().strip(), "port": 22,
                  "password": open(f"{d}/password").read().strip(),
                  "devices": sorted(f[:-4] for f in os.listdir(f"{d}/disks") if f.endswith(".img"))})
net = open(f"{state}/network").read().strip()
print(json.dumps({"controller_netns": ctl, "network": net,
                  "controller_address": net.rsplit(".", 1)[0] + ".1", "interface": "eth0",
                  "hosts": hosts}, indent=2))
EOF
}

cmd_down() {
  local h pid n f l
  # PID 1 of each host's PID namespace (and its unshare parent): when it dies the kernel ends every other process
  # of the host, and the host's mounts go with the last of them
  for pid in $(ours); do kill -KILL "$pid" 2>/dev/null || true; done
  for n in $(seq 1 200); do [ -z "$(ours)" ] && break; sleep 0.05; done
  [ -z "$(ours)" ] || die "processes of lab '$NAME' survive: $(ours | tr '\n' ' ')"
  if [ -d "$STATE/hosts" ]; then
    for f in "$STATE"/hosts/*/disks/*.img; do
      [ -e "$f" ] || continue
      for n in $(seq 1 100); do   # a FUSE client or an XFS mount may take a moment to let go
        local loops; loops=$(losetup -j "$f" -O NAME -n 2>/dev/null || true)
        [ -z "$loops" ] && break
        for l in $loops; do losetup -d "$l" 2>/dev/null || true; done
        sleep 0.1
      done
    done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAME-h[0-9]+$" || true); do ip netns del "$ns"; done
  if [ -n "$(ip netns list | awk '{print $1}' | grep -x "$CTL")" ]; then ip netns del "$CTL"; fi
  [ ! -d "$STATE" ] || rm -rf --one-file-system "$STATE"
  echo '{"down": true}'
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  exec) shift; [ $# -ge 2 ] || die "usage: lab.sh exec HOST CMD…"; in_host "$@" ;;
  ctl) shift; [ $# -ge 1 ] || die "usage: lab.sh ctl CMD…"
    [ -n "$(ip netns list | awk '{print $1}' | grep -x "$CTL")" ] || die "no lab '$NAME'"
    exec ip netns exec "$CTL" "$@" ;;
  *) die "usage: lab.sh [--name NAME] up --hosts N [--devices sdc,sdd] [--device-size 2G] [--network CIDR] | exec HOST CMD… | ctl CMD… | status | down" ;;
esac
