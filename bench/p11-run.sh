#!/bin/sh
# p11-run.sh: C_Sign and C_Encrypt rates of libkeyward-pkcs11.so, SoftHSM2
# in-process and SoftHSM2 through p11-kit's RPC (p11-kit server +
# p11-kit-client.so), in one p11-bench run that prints the ratios.
#
# Builds nothing. Starts a throw-away `keywardd -dev` over TLS on a free
# loopback port (self-signed certificate made with the openssl CLI), a
# SoftHSM2 token in a temporary directory, and a p11-kit server exporting it;
# makes P-256 and RSA-2048 key pairs labelled bench-ec and bench-rsa and an
# AES-256 key labelled bench-aes in each with pkcs11-tool; runs p11-bench
# (extra arguments go to it: -d 5 -t 1,8,32 -o ec,aes); then stops everything
# and removes the directory.
#
#   KEYWARD_BUILD_DIR  build tree with bin/keywardd, bin/p11-bench and
#                      lib/libkeyward-pkcs11.so (default: build/)
#   KEYWARD_BENCH_FORCED_AUDIT=false
#                      keywardd with forced audit off (audit: {forced: false}),
#                      to see what the audit's fdatasync costs
#   KEYWARD_BENCH_MODULES=keyward,softhsm,p11kit-rpc
#                      which modules to run (default: all three)
#   KEYWARD_BENCH_WRAP="perf record -g --"
#                      a command p11-bench runs under (a profiler)
# Needs: softhsm2, opensc (pkcs11-tool), p11-kit, openssl, python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${KEYWARD_BUILD_DIR:-$here/../build}
keywardd=$build/bin/keywardd
bench=$build/bin/p11-bench
kwmod=$build/lib/libkeyward-pkcs11.so
libdir=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
softhsm=$libdir/softhsm/libsofthsm2.so
client=$libdir/pkcs11/p11-kit-client.so
token=p11-bench-root
pin=1234

for f in "$keywardd" "$bench" "$kwmod" "$softhsm" "$client"; do
	if [ ! -e "$f" ]; then
		echo "p11-run.sh: $f is missing" >&2
		exit 2
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/keyward-p11-bench.XXXXXX")
kwpid=
cleanup() {
	[ -n "$kwpid" ] && kill "$kwpid" 2>/dev/null && wait "$kwpid" 2>/dev/null
	[ -n "${P11_KIT_SERVER_PID:-}" ] && kill "$P11_KIT_SERVER_PID" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# keywardd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 2>/dev/null
cat >"$dir/keyward.yaml" <<EOC
{"storage": {"path": "$dir/keyward.db"},
 "listeners": [{"address": "127.0.0.1:$port", "tls_cert_file": "$dir/cert.pem",
                "tls_key_file": "$dir/key.pem"}],
 "audit": {"forced": ${KEYWARD_BENCH_FORCED_AUDIT:-true}},
 "log_level": "warn"}
EOC
"$keywardd" -dev -config "$dir/keyward.yaml" -dev-root-token-id "$token" >"$dir/keywardd.log" 2>&1 &
kwpid=$!
export KEYWARD_ADDR="https://127.0.0.1:$port" KEYWARD_CACERT="$dir/cert.pem"
export KEYWARD_PKCS11_CONF="$dir/pkcs11.conf"
echo "label = bench" >"$KEYWARD_PKCS11_CONF"
for _ in $(seq 50); do
	curl -sf --cacert "$dir/cert.pem" "$KEYWARD_ADDR/v1/sys/health" >/dev/null && break
	sleep 0.2
done

# SoftHSM2
mkdir "$dir/tokens"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$dir" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label bench --pin $pin --so-pin $pin >/dev/null

# pkcs11-tool makes secret keys with CKA_SENSITIVE false unless told, which
# keyward refuses (a key's value is never readable through the module).
keys() { # module pin
	pkcs11-tool --module "$1" --login --pin "$2" --keypairgen --key-type EC:prime256v1 \
		--label bench-ec --id 01 >/dev/null
	pkcs11-tool --module "$1" --login --pin "$2" --keypairgen --key-type rsa:2048 \
		--label bench-rsa --id 02 >/dev/null
	pkcs11-tool --module "$1" --login --pin "$2" --keygen --key-type AES:32 \
		--label bench-aes --id 03 --sensitive >/dev/null
}
keys "$kwmod" "$token"
keys "$softhsm" $pin

# p11-kit server exporting the SoftHSM2 token (its socket goes in $XDG_RUNTIME_DIR)
export XDG_RUNTIME_DIR="$dir"
eval "$(p11-kit server --sh --provider "$softhsm" "pkcs11:token=bench")"
export P11_KIT_SERVER_ADDRESS

mods=
for m in $(echo "${KEYWARD_BENCH_MODULES:-keyward,softhsm,p11kit-rpc}" | tr , ' '); do
	case $m in
	keyward) mods="$mods keyward=$kwmod:$token" ;;
	softhsm) mods="$mods softhsm=$softhsm:$pin" ;;
	p11kit-rpc) mods="$mods p11kit-rpc=$client:$pin" ;;
	*)
		echo "p11-run.sh: unknown module $m" >&2
		exit 2
		;;
	esac
done
# shellcheck disable=SC2086 # $mods is a list of words without blanks
${KEYWARD_BENCH_WRAP:-} "$bench" "$@" $mods
