#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (tests/fuzz: every parser of outside text, under AddressSanitizer and
# UndefinedBehaviorSanitizer) with clang into build/fuzz, and runs each a fixed number of times from
# its seed corpus in tests/fuzz/corpus (which it never changes). Prints one line per target:
# executions, seconds, corpus growth, coverage; a crash keeps its input in build/fuzz/artifacts/,
# prints how to replay it, and fails the run.
# Usage: scripts/fuzz.sh [--runs N] [TARGET...]     (default: every target, 20000 runs each)
#   scripts/fuzz.sh --runs 1000000 trace_dir        a longer look at one parser
#   build/fuzz/fuzz_qmp build/fuzz/artifacts/crash-...   replay a crash
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=20000
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --runs takes a positive count" >&2; exit 2; }
            runs=$2; shift 2 ;;
    -h|--help) sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is missing: run scripts/setup.sh" >&2; exit 1; }
out=$root/build/fuzz
mkdir -p "$out"
cmake -S "$root/tests/fuzz" -B "$out" -DCMAKE_CXX_COMPILER=clang++ >"$out/configure.log" 2>&1 ||
  { cat "$out/configure.log" >&2; exit 1; }
cmake --build "$out" -j"$(nproc)" >"$out/build.log" 2>&1 || { tail -40 "$out/build.log" >&2; exit 1; }
if [ ${#targets[@]} -eq 0 ]; then
  for s in "$root"/tests/fuzz/fuzz_*.cpp; do t=$(basename "$s" .cpp); targets+=("${t#fuzz_}"); done
fi
mkdir -p "$out/artifacts"
# LeakSanitizer is off: the parsers' results are freed by their owners, and its ptrace-based stop
# of the world is refused in some containers; ASan and UBSan stay on.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
total=0
printf '%-14s %10s %8s %14s %8s  %s\n' target executions seconds corpus coverage result
for t in "${targets[@]}"; do
  bin=$out/fuzz_$t
  seeds=$root/tests/fuzz/corpus/$t
  [ -x "$bin" ] || { echo "fuzz.sh: no target $t (tests/fuzz/fuzz_$t.cpp)" >&2; exit 2; }
  [ -d "$seeds" ] || { echo "fuzz.sh: no seed corpus $seeds" >&2; exit 1; }
  rm -f "$out/artifacts/${t}-"*  # a replay line names this run's input, never an older one
  work=$(mktemp -d /tmp/ht-fuzz-XXXXXX)
  log=$out/fuzz_$t.log
  start=$(date +%s%N)
  set +e
  "$bin" -runs="$runs" -seed=1 -max_len=65536 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/${t}-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  set -e
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  seeds_n=$(find "$seeds" -type f | wc -l)
  grown=$(find "$work" -type f | wc -l)
  rm -rf "$work"
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="CRASH (exit $rc): $(grep -m1 -E 'runtime error|ERROR: AddressSanitizer|does not hold|terminate called|SUMMARY' "$log" || echo "see $log")"
    failed=1
    art=$(ls -t "$out/artifacts/${t}-"* 2>/dev/null | head -1 || true)
    [ -n "$art" ] && result+="; input $art, replay: $bin $art"
  fi
  total=$((total + ${execs:-0}))
  printf '%-14s %10s %6d.%d %6s -> %-5s %8s  %s\n' "$t" "${execs:-?}" $((ms / 1000)) $((ms % 1000 / 100)) "$seeds_n" "$((seeds_n + grown))" "${cov:-?}" "$result"
done
echo "fuzz: $total executions over ${#targets[@]} targets; logs in $out"
exit $failed
