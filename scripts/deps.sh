#!/bin/sh
# Install the Debian 12 packages keyward needs to build, run and test.
# Idempotent: runs apt-get only when something is missing.
set -eu

BUILD="build-essential cmake pkg-config libssl-dev libsqlite3-dev libmicrohttpd-dev
libjansson-dev libfyaml-dev libcurl4-openssl-dev libcmocka-dev libgnutls28-dev
libp11-kit-dev libseccomp-dev"
TEST="python3 python3-hvac python3-cryptography python3-requests python3-jwt python3-yaml
python3-kubernetes python3-pykcs11 opensc gnutls-bin softhsm2 p11-kit
libengine-pkcs11-openssl nginx openjdk-17-jdk-headless sqlite3 openssl curl"

want="$BUILD"
[ "${1:-}" = "--test" ] && want="$BUILD $TEST"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
