#!/bin/sh
# Runs a real OpenStack Cinder (Debian's python3-cinder) on loopback and the `blockstorage` benchmark against it and
# against Cairn in the same run. Not part of CI. Needs (as root, services kept from starting by policy-rc.d):
#   printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
#   apt-get install -y --no-install-recommends python3-cinder rabbitmq-server
# Cinder: cinder-api, cinder-scheduler and cinder-volume as processes started here (python3 -m cinder.cmd.*),
# auth_strategy noauth, SQLite database, RabbitMQ on a free loopback port, the in-tree fake volume driver
# (cinder.tests.fake_driver.FakeLoggingVolumeDriver: no device-mapper/LVM, every driver call returns at once, so the
# figures are Cinder's API/scheduler/RPC/DB cost alone). Everything is stopped at the end.
# Usage: bench/cinder/run-cinder.sh [Cairn.Bench blockstorage options, e.g. --cinder-count 100]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bench="$here/../Cairn.Bench/bin/Release/net10.0/Cairn.Bench.dll"
dir=$(mktemp -d /tmp/cinder-bench.XXXXXX)
py=/usr/bin/python3
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
amqp=$(free_port); dist=$(free_port); epmd=$(free_port); api=$(free_port)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  # The broker's beam.smp and its epmd run under su as rabbitmq (not children of this shell): found by the state dir
  # in their environment, which only this run's processes have.
  for e in /proc/[0-9]*/environ; do
    if tr '\0' '\n' < "$e" 2>/dev/null | grep -qx "RABBITMQ_MNESIA_BASE=$dir/rabbit/mnesia"; then
      p=${e#/proc/}; kill "${p%/environ}" 2>/dev/null || true
    fi
  done
  echo "logs kept in $dir"
}
trap cleanup EXIT INT TERM

# RabbitMQ on loopback, free ports, state under $dir.
mkdir -p "$dir/rabbit/mnesia" "$dir/rabbit/log"
echo "listeners.tcp.1 = 127.0.0.1:$amqp" > "$dir/rabbit/rabbitmq.conf"
echo "[]." > "$dir/rabbit/advanced.config"
echo "[]." > "$dir/rabbit/plugins"
# Debian's rabbitmq-server drops to the rabbitmq user when started as root.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chmod 755 "$dir"; chown -R rabbitmq "$dir/rabbit"; fi
env HOME="$dir/rabbit" ERL_EPMD_PORT=$epmd ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_NODENAME=cbench@localhost \
  RABBITMQ_DIST_PORT=$dist RABBITMQ_CONFIG_FILE="$dir/rabbit/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/rabbit/advanced.config" \
  RABBITMQ_MNESIA_BASE="$dir/rabbit/mnesia" RABBITMQ_LOG_BASE="$dir/rabbit/log" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbit/plugins" \
  RABBITMQ_FEATURE_FLAGS_FILE="$dir/rabbit/feature_flags" \
  /usr/sbin/rabbitmq-server > "$dir/rabbit.out" 2>&1 &
pids="$pids $!"
up=no
for i in $(seq 1 120); do
  if $py -c "import socket; socket.create_connection(('127.0.0.1',$amqp),1)" 2>/dev/null; then up=yes; break; fi
  sleep 1
done
[ $up = yes ] || { echo "rabbitmq did not start: see $dir/rabbit.out" >&2; tail -5 "$dir/rabbit.out" >&2; exit 1; }

cat > "$dir/cinder.conf" <<CONF
[DEFAULT]
auth_strategy = noauth
transport_url = rabbit://guest:guest@127.0.0.1:$amqp/
api_paste_config = $dir/api-paste.ini
state_path = $dir
log_dir = $dir/log
debug = false
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $api
osapi_volume_workers = 2
enabled_backends = fake
default_volume_type = __DEFAULT__
[database]
connection = sqlite:///$dir/cinder.sqlite
[oslo_concurrency]
lock_path = $dir/lock
[coordination]
backend_url = file://$dir/coord
[fake]
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
CONF
cat > "$dir/api-paste.ini" <<'PASTE'
[composite:osapi_volume]
use = call:cinder.api:root_app_factory
/: apiversions
/v3: openstack_volume_api_v3

[composite:openstack_volume_api_v3]
use = call:cinder.api.middleware.auth:pipeline_factory
noauth = request_id faultwrap sizelimit noauth apiv3
keystone = request_id faultwrap sizelimit noauth apiv3
keystone_nolimit = request_id faultwrap sizelimit noauth apiv3

[filter:request_id]
paste.filter_factory = oslo_middleware.request_id:RequestId.factory
[filter:faultwrap]
paste.filter_factory = cinder.api.middleware.fault:FaultWrapper.factory
[filter:noauth]
paste.filter_factory = cinder.api.middleware.auth:NoAuthMiddleware.factory
[filter:sizelimit]
paste.filter_factory = oslo_middleware.sizelimit:RequestBodySizeLimiter.factory
[app:apiv3]
paste.app_factory = cinder.api.v3.router:APIRouter.factory
[pipeline:apiversions]
pipeline = faultwrap osvolumeversionapp
[app:osvolumeversionapp]
paste.app_factory = cinder.api.versions:Versions.factory
PASTE
mkdir -p "$dir/log" "$dir/lock" "$dir/coord"
$py -c 'import sys; from cinder.cmd.manage import main; sys.argv=["cinder-manage","--config-file",sys.argv[1],"db","sync"]; main()' "$dir/cinder.conf" > "$dir/dbsync.out" 2>&1
svcpids=""
for svc in api scheduler volume; do
  $py -c "import sys; from cinder.cmd.$svc import main; sys.argv=['cinder-$svc','--config-file','$dir/cinder.conf']; main()" > "$dir/$svc.out" 2>&1 &
  pids="$pids $!"; svcpids="$svcpids $!"
done
# Up when the API answers and the volume service has reported to the scheduler (os-services shows it up).
proj=$($py -c 'import uuid; print(uuid.uuid4().hex)')
for i in $(seq 1 180); do
  if curl -sf -H "X-Auth-Token: admin:$proj" "http://127.0.0.1:$api/v3/$proj/os-services" 2>/dev/null | grep -q '"binary": "cinder-volume", "host": "[^"]*", "zone": "nova", "status": "enabled", "state": "up"'; then break; fi
  sleep 1
done
curl -s -H "X-Auth-Token: admin:$proj" "http://127.0.0.1:$api/v3/$proj/os-services"; echo
# Cinder's processes: the three services and the API's worker children (RSS summed over all).
cpids=$(for p in $svcpids; do echo $p; pgrep -P $p 2>/dev/null || true; done | sort -un | paste -sd, -)
echo "cinder processes: $cpids"
dotnet "$bench" blockstorage --cinder "http://127.0.0.1:$api" --cinder-project "$proj" --cinder-pids "$cpids" "$@"
