#!/usr/bin/env bash
# Runs Tempest's volume API tests (include-list.txt minus exclude-list.txt) against a running Cairn server with its
# Keystone-compatible identity service (cairn serve --auth keystone). See docs/api/tempest.md.
#
#   tests/tempest/run.sh --url http://127.0.0.1:8776 [options]
#
# Options:
#   --url URL               the server's HTTP listener (Block Storage at URL/v3, identity at URL/identity/v3)
#   --accounts FILE         a Tempest accounts file (yaml) to use as is; without it the accounts are created with the
#                           CLI: for each worker one admin user and two member users, each in a project of its own
#   --cairn "CMD"           the CLI command that creates them (default: cairn; e.g. "dotnet src/Cairn/bin/Release/net10.0/cairn.dll")
#   --cli-server ADDR       where that CLI reaches the server's admin API (default: the --url; e.g. unix:/var/lib/cairn/cairn.sock)
#   --workspace DIR         where the Tempest workspace, logs and results go (default: a new directory under /tmp)
#   --concurrency N         Tempest workers (default 2)
#   --timeout SECONDS       bound on the whole tempest run (default 1800)
#   --max-microversion V    [volume] max_microversion (default: the "version" of the v3 entry of GET URL/)
#   --extensions LIST       [volume-feature-enabled] api_extensions, comma separated (default: $CAIRN_TEMPEST_EXTENSIONS
#                           or the Cinder aliases Cairn lists)
#   --regex REGEX           run the tests matching REGEX instead of those of include-list.txt
#
# Writes WORKSPACE/results.jsonl (one {"id","status","reason"} per test) and prints every failure and every skip with
# its reason. Exit code 0 when nothing failed and something passed, 1 when a test failed, 2 on a usage or setup error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

url="" accounts="" cairn="${CAIRN:-cairn}" cli_server="" workspace="" concurrency=2 timeout_s=1800 maxv="" regex=""
extensions="${CAIRN_TEMPEST_EXTENSIONS:-os-availability-zone,os-quota-sets,os-types-extra-specs,os-extended-snapshot-attributes}"
die() { echo "run.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --url) url="${2:-}"; shift 2 ;;
    --accounts) accounts="${2:-}"; shift 2 ;;
    --cairn) cairn="${2:-}"; shift 2 ;;
    --cli-server) cli_server="${2:-}"; shift 2 ;;
    --workspace) workspace="${2:-}"; shift 2 ;;
    --concurrency) concurrency="${2:-}"; shift 2 ;;
    --timeout) timeout_s="${2:-}"; shift 2 ;;
    --max-microversion) maxv="${2:-}"; shift 2 ;;
    --extensions) extensions="${2:-}"; shift 2 ;;
    --regex) regex="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ -n "$url" ] || die "--url is required (see --help)"
url="${url%/}"
[[ "$url" =~ ^https?://[^/]+$ ]] || die "--url must be scheme://host:port with no path, got '$url'"
[[ "$concurrency" =~ ^[1-9][0-9]*$ ]] || die "--concurrency must be a positive integer"
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[ -z "$accounts" ] || [ -r "$accounts" ] || die "cannot read accounts file '$accounts'"
# Debian's python3 (the one tempest runs on, with subunit), not a python3 that PATH may put first (pyenv).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
for tool in tempest stestr "$py" curl; do
  command -v "$tool" >/dev/null || die "'$tool' not found (Debian packages: tempest python3-subunit curl)"
done

# The maximum microversion is what the server announces (a configuration fact, not what is under test:
# test_versions checks the discovery documents themselves).
if [ -z "$maxv" ]; then
  discovery="$(curl -sS --max-time 10 "$url/")" || die "GET $url/ failed: is the server running?"
  maxv="$(printf '%s' "$discovery" | "$py" -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
for v in doc.get("versions", []):
    if str(v.get("id", "")).startswith("v3") and v.get("version"):
        print(v["version"]); break
')" || true
  [ -n "$maxv" ] || die "GET $url/ did not announce a v3 version (Block Storage API not served?); pass --max-microversion"
fi
[[ "$maxv" =~ ^3\.[0-9]+$ ]] || die "max microversion must look like 3.N, got '$maxv'"

root="${workspace:-$(mktemp -d /tmp/cairn-tempest-XXXXXX)}"
mkdir -p "$root"
chmod 700 "$root"
ws="$root/ws"
[ ! -e "$ws" ] || die "workspace '$ws' already exists: pass a new --workspace"
(cd "$root" && tempest init --workspace-path "$root/workspace.yaml" "$ws" >/dev/null)  # it logs to ./tempest.log
umask 077

# Accounts: the projects and users Tempest uses (static credentials; Tempest creates none).
if [ -z "$accounts" ]; then
  read -r -a cli <<< "$cairn"
  server="${cli_server:-$url}"
  run_id="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  accounts="$ws/etc/accounts.yaml"
  rm -f "$accounts"                      # tempest init left a sample there, readable by all
  install -m 600 /dev/null "$accounts"
  make_account() { # name role
    local name="tempest-$run_id-$1" role="$2" pw pwfile
    pw="$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
    pwfile="$ws/etc/$name.password"
    printf '%s' "$pw" > "$pwfile"
    "${cli[@]}" project create "$name" --server "$server" >/dev/null \
      || die "could not create project $name with: $cairn project create"
    "${cli[@]}" user create "$name" --project "$name" --role "$role" --password-file "$pwfile" --server "$server" >/dev/null \
      || die "could not create user $name with: $cairn user create"
    printf -- "- username: '%s'\n  project_name: '%s'\n  password: '%s'\n  roles: ['%s']\n" \
      "$name" "$name" "$pw" "$role" >> "$accounts"
  }
  for i in $(seq 1 "$concurrency"); do
    make_account "admin$i" admin
    make_account "a$i" member
    make_account "b$i" member
  done
fi

cat > "$ws/etc/tempest.conf" <<EOF
[DEFAULT]
log_dir = $ws/logs
log_file = tempest.log

[oslo_concurrency]
lock_path = $ws/tempest_lock

[auth]
use_dynamic_credentials = false
test_accounts_file = $accounts
default_credentials_domain_name = Default
create_isolated_networks = false

[identity]
uri_v3 = $url/identity/v3
auth_version = v3
region = RegionOne

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[service_available]
cinder = true
nova = false
glance = false
swift = false
neutron = false

[validation]
run_validation = false

[volume]
catalog_type = volumev3
endpoint_type = publicURL
max_microversion = $maxv
build_interval = 1
build_timeout = 60
volume_size = 1
volume_size_extend = 1
storage_protocol = iSCSI
vendor_name = Cairn

[volume-feature-enabled]
snapshot = true
clone = true
backup = false
multi_backend = false
manage_volume = false
manage_snapshot = false
extend_attached_volume = false
extend_attached_encrypted_volume = false
api_extensions = $extensions
EOF

echo "run.sh: tempest against $url (max microversion $maxv, $concurrency workers), workspace $ws"
cd "$ws"
args=(run --config-file "$ws/etc/tempest.conf" --exclude-list "$here/exclude-list.txt" --concurrency "$concurrency")
if [ -n "$regex" ]; then args+=(--regex "$regex"); else args+=(--include-list "$here/include-list.txt"); fi
rc=0
timeout --kill-after=30 "$timeout_s" tempest "${args[@]}" || rc=$?
[ "$rc" -ne 124 ] || echo "run.sh: tempest run timed out after $timeout_s s" >&2
stestr last --subunit > "$root/results.subunit" 2>/dev/null || die "no test results (tempest exit $rc; see $ws/logs/tempest.log)"
summary=0
"$py" "$here/results.py" "$root/results.jsonl" < "$root/results.subunit" || summary=$?
[ "$rc" -ne 124 ] || exit 1
exit "$summary"
