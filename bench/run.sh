#!/bin/sh
# run.sh: benchmark a throw-away keywardd over TLS with keyward-bench.
#
# Builds nothing. Generates a CA and a server certificate for 127.0.0.1 with
# the openssl CLI, starts `keywardd -dev -config <tls config>` on a free
# loopback port in a temporary directory, runs keyward-bench against it
# (extra arguments go to keyward-bench, e.g. -duration 5 -conns 1,16), then
# stops the daemon and removes the directory. Exits with the bench's status.
# Among the default operations are the identity ones: login-k8s-rs256 (logins
# with RS256 service-account tokens through a kubernetes auth mount the bench
# sets up) and sign-ecdsa-p256-k8s (a sign with the token such a login
# returned, against the same sign with the root token). Only those two:
#   bench/run.sh -ops login-k8s-rs256,sign-ecdsa-p256-k8s -conns 1,16
#
#   KEYWARD_BUILD_DIR  build tree holding bin/keywardd and bin/keyward-bench
#                      (default: build/ next to this script's parent)
#   KEYWARD_BIN        keywardd to run (default: $KEYWARD_BUILD_DIR/bin/keywardd)
#   KEYWARD_BENCH      keyward-bench to run (default: $KEYWARD_BUILD_DIR/bin/keyward-bench)
#   KEYWARD_BENCH_KEEP=1  keep the temporary directory (certificates, log)
#   KEYWARD_BENCH_THREADS front keeper channels, limits.threads (default: 32)
#   KEYWARD_BENCH_FORCED_AUDIT=false  reply before the audit entry is durable
# shellcheck disable=SC2317 # functions run from traps
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${KEYWARD_BUILD_DIR:-$here/../build}
keywardd=${KEYWARD_BIN:-$build/bin/keywardd}
bench=${KEYWARD_BENCH:-$build/bin/keyward-bench}

for f in "$keywardd" "$bench"; do
	if [ ! -x "$f" ]; then
		echo "run.sh: $f is missing; build it first" >&2
		exit 2
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/keyward-bench.XXXXXX")
pid=

stop_daemon() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	# keywardd must exit within 10 s of SIGTERM; do not wait forever.
	i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "run.sh: keywardd did not stop on SIGTERM; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	pid=
}

cleanup() {
	stop_daemon
	if [ "${KEYWARD_BENCH_KEEP:-0}" = 1 ]; then
		echo "run.sh: kept $dir" >&2
	else
		rm -rf "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- certificates: a CA and a server certificate for 127.0.0.1/localhost ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=keyward-bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
cat >"$dir/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
	-CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
chmod 600 "$dir/ca.key" "$dir/server.key"

# --- a free port: bind to 0 and let go ---
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr="https://127.0.0.1:$port"

cat >"$dir/keyward.yaml" <<EOF
storage: { path: $dir/keyward.db }
listeners:
  - address: 127.0.0.1:$port
    tls_cert_file: $dir/server.pem
    tls_key_file: $dir/server.key
limits: { threads: ${KEYWARD_BENCH_THREADS:-0} }
audit: { forced: ${KEYWARD_BENCH_FORCED_AUDIT:-true} }
log_level: ${KEYWARD_BENCH_LOG_LEVEL:-warn}
EOF

token=$(openssl rand -hex 16)
"$keywardd" -dev -config "$dir/keyward.yaml" -dev-root-token-id "$token" \
	>"$dir/keywardd.log" 2>&1 &
pid=$!

# --- wait for /v1/sys/health ---
i=0
until curl -s -o /dev/null --cacert "$dir/ca.pem" "$addr/v1/sys/health"; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "run.sh: keywardd exited during start-up:" >&2
		cat "$dir/keywardd.log" >&2
		pid=
		exit 1
	fi
	i=$((i + 1))
	if [ "$i" -ge 300 ]; then
		echo "run.sh: keywardd did not answer on $addr within 30 s:" >&2
		cat "$dir/keywardd.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "keyward-bench: $keywardd on $addr, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
# The token travels in the environment, not on a command line ps can show.
status=0
VAULT_TOKEN=$token "$bench" -addr "$addr" -cacert "$dir/ca.pem" "$@" || status=$?
if [ "$status" -ne 0 ]; then
	echo "run.sh: keyward-bench exited with status $status; keywardd log tail:" >&2
	tail -n 50 "$dir/keywardd.log" >&2
fi
exit $status
