#!/bin/sh
# Install what is missing, build, and run every test (unit, integration,
# interop). With --sanitize, the same suite in an ASan+UBSan build.
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh --test
dir=build
flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo"
if [ "${1:-}" = "--sanitize" ]; then
	dir=build-asan
	flags="-DCMAKE_BUILD_TYPE=Debug -DKW_SANITIZE=ON"
	# Leak checks stay on; abort on the first report so CI fails loudly.
	export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
cmake -S . -B "$dir" $flags
cmake --build "$dir" -j"$(nproc)"
cd "$dir" && ctest --output-on-failure -j2
