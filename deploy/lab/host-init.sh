#!/bin/bash
# The init of one lab host (started by lab.sh inside the host's network namespace, in new mount, UTS and PID
# namespaces, so it is PID 1 there): private mounts, root password in the private /etc, sshd, then it reaps.
#   host-init.sh STATE_DIR/ HOSTNAME "sdc:MAJ:MIN sdd:MAJ:MIN" (major:minor in hex)
set -euo pipefail
dir=$1 h=$2 devmap=$3
fail() { echo "$*" >"${dir}failed"; echo "$*" >&2; exit 1; }
trap 'fail "host init failed at line $LINENO"' ERR

[ "$$" -eq 1 ] || fail "not PID 1 of a new PID namespace"
hostname "$h"
mount --make-rprivate /
mount -t tmpfs -o mode=755,size=64m tmpfs /run
mkdir -p /run/lab /run/sshd /run/lock
mount --bind "$dir" /run/lab                       # the lab's files for this host, whatever hides their path
# Private copies of everything a host's daemons, the playbooks and the package scripts write: every write lands in
# this host's upper dir, never in the machine's own files.
for d in etc root var srv; do
  mkdir -p "${dir}$d.upper" "${dir}$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=${dir}$d.upper,workdir=${dir}$d.work" "/$d"
done
mount -t tmpfs -o mode=1777,size=256m tmpfs /tmp
for d in etc root var srv; do [ "$(findmnt -no FSTYPE "/$d")" = overlay ] || fail "/$d is not private"; done
[ "$(findmnt -no FSTYPE /run)" = tmpfs ] || fail "/run is not private"

# /dev: the usual character devices, FUSE (GlusterFS native clients), and the disks named like real ones
mount -t tmpfs -o mode=755,size=1m tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
mknod -m 666 /dev/fuse c 10 229
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,size=64m tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
for m in $devmap; do
  IFS=: read -r name maj min <<<"$m"
  mknod -m 660 "/dev/$name" b $((16#$maj)) $((16#$min))
done

# root's password lives in this host's /etc only (checked above that /etc is the overlay)
printf 'root:%s\n' "$(cat /run/lab/password)" | chpasswd
printf '%s\n' "$h" >/etc/hostname
printf '127.0.0.1 localhost\n%s %s\n' "$(cat /run/lab/address)" "$h" >/etc/hosts

/usr/sbin/sshd -D -f /run/lab/sshd_config -E /run/lab/sshd.log &
touch /run/lab/ready
trap - ERR
# PID 1: reap orphans (daemons that fork away end up here) until the lab kills us
exec /usr/bin/python3 -c '
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(1)
' "${dir}"
