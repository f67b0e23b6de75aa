#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzzing build (`make fuzz`; fuzz/CMakeLists.txt) one after the
# other, each for SECONDS, and prints what each did.
#
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS [TARGET...]     (no TARGET: every target)
#
# Each target starts from its committed seeds (fuzz/corpus/NAME, read only) and the inputs earlier
# runs found (BUILD_DIR/fuzz/work/NAME, where new ones go), with its dictionary when it has one.
# A crash, leak, sanitizer report, timeout or out-of-memory stops that target and leaves the
# input in BUILD_DIR/fuzz/artifacts/NAME/; the script goes on with the next and exits 1 at the
# end. Knobs (environment): FUZZ_NICE (default 15), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT_S (10, per
# input), FUZZ_ARGS (more libFuzzer flags).
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build="$1"
seconds="$2"
shift 2
list="$build/fuzz/fuzzers.txt"
if [ ! -s "$list" ]; then
  echo "run-fuzzers: $list is missing or empty (configure with -DSTIPPLE_FUZZ=ON)" >&2
  exit 2
fi

failed=0
summary=()
while read -r name exe corpus dict; do
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  work="$build/fuzz/work/$name"
  artifacts="$build/fuzz/artifacts/$name"
  log="$build/fuzz/logs/$name.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/"
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout="${FUZZ_TIMEOUT_S:-10}")
  [ "$dict" != "-" ] && args+=(-dict="$dict")
  # shellcheck disable=SC2206
  args+=(${FUZZ_ARGS:-})
  echo "== $name: ${seconds}s"
  /usr/bin/time -f '%U %S' -o "$log.time" \
    nice -n "${FUZZ_NICE:-15}" "$exe" "${args[@]}" "$work" "$corpus" >"$log" 2>&1
  rc=$?
  cpu=$(tail -n 1 "$log.time" 2>/dev/null | awk '{printf "%.0f", $1 + $2}')
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  found=$(find "$artifacts" -type f | wc -l)
  line=$(printf '%-22s cpu %6ss  runs %10s  cov %6s  corpus %5s  artifacts %s' \
         "$name" "$cpu" "${runs:-?}" "${cov:-?}" "$(find "$work" -type f | wc -l)" "$found")
  echo "$line"
  summary+=("$line")
  if [ $rc -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    echo "   FAILED (exit $rc); log: $log" >&2
    grep -m 5 -E 'ERROR|property broken|runtime error' "$log" >&2
  fi
done <"$list"

echo
echo "== summary (${seconds}s each)"
printf '%s\n' "${summary[@]}"
exit $failed
