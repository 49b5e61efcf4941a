#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] — run the codec reader's libFuzzer target.
#
# Builds build-fuzz/ with clang, ASan and UBSan (-Dfuzz=enabled), seeds a
# temporary directory with the corpus's .bin messages (the shared corpus is
# read-only to us and nothing is written into the repository), and fuzzes for
# SECONDS (default 60). New inputs and crash files stay in the temporary
# directory, whose path is printed; it is kept only when something was found.
# Exit status: 0 when the run ended cleanly, non-zero on a crash, leak, sanitizer
# report, timeout or out-of-memory.
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
corpus="${UPDPROXY_CORPUS:-$root/../shared/corpus}"
target=codec/codec_fuzz_reader_libfuzzer

if [ ! -f "$build/build.ninja" ]; then
  # -fsanitize=fuzzer-no-link on every object: codec/meson.build passes
  # -fsanitize=fuzzer to fuzz_reader.cpp only, and without coverage
  # instrumentation in the codec library libFuzzer would fuzz blind.
  # b_lundef=false: meson's -Wl,--no-undefined breaks sanitizer links with clang.
  CC=clang CXX=clang++ meson setup "$build" "$root" \
    -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args=-fsanitize=fuzzer-no-link -Dbuildtype=debugoptimized >&2
fi
ninja -C "$build" "$target" codec/codec_fuzz_reader >&2

work="$(mktemp -d "${TMPDIR:-/tmp}/updproxy-fuzz.XXXXXX")"
mkdir -p "$work/seeds" "$work/artifacts"
n=0
while IFS= read -r -d '' f; do
  # Flattened names; the path keeps them unique.
  cp "$f" "$work/seeds/$(echo "${f#"$corpus"/}" | tr '/' '_')"
  n=$((n + 1))
done < <(find "$corpus" -name '*.bin' -type f -print0)
echo "fuzz: $n seed messages from $corpus in $work/seeds" >&2

# UBSan findings must fail the run, not just print.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"

status=0
"$build/$target" "$work/seeds" \
  -max_total_time="$seconds" -max_len=9000 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" || status=$?

if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
  echo "fuzz: FAILED (exit $status); inputs in $work/artifacts:" >&2
  ls -l "$work/artifacts" >&2
  echo "fuzz: replay with $build/codec/codec_fuzz_reader $work/artifacts" >&2
  exit "${status/#0/1}"
fi
echo "fuzz: clean run of ${seconds}s" >&2
rm -rf "$work"
