#!/usr/bin/env bash
# The installer lab's figures with plain ansible-playbook (the floor the installer API is compared with):
# deploy of 3 storage + 3 access nodes one playbook per step, an idempotent re-run (site.yml), VIP failover after
# keepalived stops on one access node, and scale-storage (one more brick set) with a rebalance of DATA_MIB of data.
#   deploy/lab/bench.sh [DATA_MIB (default 1024)]          (as root; prints one line per figure)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data_mib=${1:-1024}
name=bench$$
name=${name:0:12}
work=$(mktemp -d /tmp/cairn-lab-bench.XXXXXX)
lab() { "$here/lab.sh" --name "$name" "$@"; }
cleanup() { lab down >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

export LC_ALL=C.UTF-8 ANSIBLE_CONFIG=$here/../ansible/ansible.cfg ANSIBLE_LOCAL_TEMP=$work/tmp ANSIBLE_SSH_CONTROL_PATH_DIR=$work/cp
export ANSIBLE_NOCOLOR=1
t=$(now); lab up --hosts 6 --devices sdc,sdd --device-size 3G >"$work/lab.json"; echo "lab up (6 hosts): $(since "$t") s"
"$here/lab-config.py" "$work/lab.json" "$work" >/dev/null
play() {  # play ENV PLAYBOOK [args…]  → log in $work/<playbook>.log
  local env=$1 pb=$2; shift 2
  lab ctl ansible-playbook -i "$work/inventory.ini" -e "@$env" "$@" "$here/../ansible/$pb" >"$work/${pb%.yml}.log" 2>&1 ||
    { echo "$pb failed:" >&2; tail -40 "$work/${pb%.yml}.log" >&2; exit 1; }
}
env=$work/qs_installer_env_config.yml

t0=$(now); line="deploy 3+3, one ansible-playbook per step:"
for s in step0_precheck step1_prepare step2_packages step3_pool step4_bricks step5_volume step6_access step7_verify; do
  t=$(now)
  case $s in step0_precheck|step1_prepare) play "$env" $s.yml --connection-password-file "$work/password" ;; *) play "$env" $s.yml ;; esac
  line+=" ${s%%_*} $(since "$t")"
done
echo "$line; total $(since "$t0") s"

t=$(now); play "$env" site.yml; rerun=$(since "$t")
changed=$(awk '/PLAY RECAP/ {r=1; next} r && /changed=/ { for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, a, "="); c += a[2] } } END { print c + 0 }' "$work/site.log")
echo "re-run (site.yml): $rerun s, changed=$changed"

# failover: stop keepalived on the second access node (h5, master of the second VIP); time until the VIP answers
# (TCP 2049 from the controller namespace) on another node
vip=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_nodes"]["intranet"]["vips"][1])' "$env")
t=$(now)
lab exec h5 sh -c 'kill -TERM "$(cat /run/keepalived.pid)"'
while lab exec h5 ip -o -4 addr show dev eth0 | grep -q " $vip/"; do sleep 0.02; done
until lab ctl timeout 1 bash -c "exec 3<>/dev/tcp/$vip/2049" 2>/dev/null; do sleep 0.02; done
failover=$(since "$t")
holder=$(for h in h4 h6; do lab exec $h ip -o -4 addr show dev eth0 | grep -q " $vip/" && echo $h; done)
echo "VIP failover ($vip from h5 to ${holder:-?}): $failover s"
t=$(now); play "$env" step6_access.yml; echo "step6 re-run restarting keepalived on h5 (VIP back on its master): $(since "$t") s"

# scale storage: DATA_MIB of data over GlusterFS, then one more brick set (sdd on each storage node) and a rebalance
t=$(now)
lab exec h1 sh -c "mkdir -p /run/b && mount -t glusterfs 10.251.0.11:/vol0 /run/b && mkdir -p /run/b/bench &&
  i=0; while [ \$i -lt $((data_mib / 4)) ]; do head -c 4194304 /dev/urandom > /run/b/bench/f\$i; i=\$((i + 1)); done; umount /run/b"
echo "wrote $data_mib MiB over GlusterFS: $(since "$t") s"
/usr/bin/python3 - "$env" "$work/scale.yml" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["storage_nodes"].append(dict(e["storage_nodes"][0], block="sdd", brick_count=1))
json.dump(e, open(sys.argv[2], "w"), indent=2)
PY
t0=$(now); line="scale-storage (+1 brick set), one ansible-playbook per step:"
for s in step0_precheck step1_prepare step2_packages step3_pool step4_bricks scale_storage step6_access step7_verify; do
  t=$(now); play "$work/scale.yml" $s.yml; line+=" ${s%%_*} $(since "$t")"
done
echo "$line; total $(since "$t0") s"
grep -o '"msg": "[^"]*files,[^"]*"' "$work/scale_storage.log" | sed 's/^/  rebalance: /'
