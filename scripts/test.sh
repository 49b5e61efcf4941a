#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs every
# test suite (unit, system, fuzz replay), then the unit suite again under
# AddressSanitizer + UBSan, then a bounded libFuzzer run. Ends with one
# summary line "N passed, N failed".
#
#   scripts/test.sh            everything
#   FUZZ_SECONDS=0 scripts/test.sh   skip the libFuzzer run
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0
failed=0
failures=()

step() {  # step NAME COMMAND...
    local name=$1
    shift
    echo "=== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

# meson test prints "Ok: N  Fail: N ..."; count its tests individually.
meson_suites() {  # meson_suites BUILDDIR SUITE...
    local dir=$1
    shift
    local args=()
    for s in "$@"; do args+=(--suite "$s"); done
    local log
    log=$(mktemp)
    meson test -C "$dir" --print-errorlogs "${args[@]}" 2>&1 | tee "$log"
    local ok fail
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
    fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -1)
    local timeout
    timeout=$(awk '/^Timeout:/ {print $2}' "$log" | tail -1)
    rm -f "$log"
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${fail:-0} + ${timeout:-0}))
    [ "${fail:-0}" = 0 ] && [ "${timeout:-0}" = 0 ] && [ -n "$ok" ]
}

if ! bash scripts/install-deps.sh; then
    echo "0 passed, 1 failed"
    exit 1
fi

step "configure" bash -c '[ -d build ] || meson setup build'
step "build" ninja -C build
echo "=== tests (unit, system, fuzz replay)"
meson_suites build unit system fuzz || failures+=("build: unit/system/fuzz")

step "configure (asan+ubsan)" bash -c '[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug -Dbenchmarks=disabled'
step "build (asan+ubsan)" ninja -C build-asan
echo "=== unit tests under AddressSanitizer + UBSan"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson_suites build-asan unit fuzz || failures+=("build-asan: unit/fuzz")

if [ "$FUZZ_SECONDS" -gt 0 ] && [ -x scripts/fuzz.sh ]; then
    step "libFuzzer ${FUZZ_SECONDS}s" bash scripts/fuzz.sh "$FUZZ_SECONDS"
fi

if [ "${#failures[@]}" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
