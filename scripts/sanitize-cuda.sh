#!/usr/bin/env bash
# compute-sanitizer over the CUDA tests, on a machine with a GPU (it fails without one):
#   1. memcheck (out-of-bounds and misaligned device accesses, invalid frees, API errors)
#      over every CUDA case of the suite (`--grep '\[cuda:0\]'`), the ViT leak test cut
#      to 50 forwards (memcheck's cost is per kernel launch; 2 x 4000 forwards would take
#      most of an hour);
#   2. racecheck (shared-memory hazards) over the kernels that use shared memory the most:
#      attention, softmax and the norms, without the largest attention shapes
#      (Nq/Nk 1000 and 4096, B 64), which racecheck takes minutes each to replay.
# Each writes a log under $OUT_DIR (default build/sanitize-cuda) and this prints its ERROR
# SUMMARY lines and one summary line. Each tool has a wall-clock cap (MEMCHECK_TIMEOUT,
# RACECHECK_TIMEOUT, seconds) so that the whole run fits in ~8 minutes on an H100.
#   scripts/sanitize-cuda.sh
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=${OUT_DIR:-build/sanitize-cuda}
MEMCHECK_TIMEOUT=${MEMCHECK_TIMEOUT:-330}
RACECHECK_TIMEOUT=${RACECHECK_TIMEOUT:-150}
mkdir -p "$OUT_DIR"

cs=$(command -v compute-sanitizer || true)
[[ -z $cs && -x /usr/local/cuda/bin/compute-sanitizer ]] && cs=/usr/local/cuda/bin/compute-sanitizer
if [[ -z $cs ]]; then echo "sanitize-cuda: compute-sanitizer not found (PATH, /usr/local/cuda/bin)"; exit 1; fi

# The addon must have its CUDA backend: build it when the current one lacks it.
if ! node -e "process.exit(require('./build/Release/nodeformers.node').buildInfo.cuda ? 0 : 1)" 2>/dev/null; then
  echo "== building the addon with CUDA"
  NODEFORMERS_CUDA=ON npm run build:native || { echo "sanitize-cuda: CUDA build failed"; exit 1; }
fi

export NODEFORMERS_REQUIRE_CUDA=1
mocha=(npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 600000)

# run TOOL TIMEOUT GREP FILES...: one compute-sanitizer run; its log is $OUT_DIR/TOOL.log.
run() {
  local tool=$1 limit=$2 grep=$3
  shift 3
  local log=$OUT_DIR/$tool.log
  echo "== compute-sanitizer --tool $tool (cap ${limit}s): mocha --grep '$grep' $*"
  local t0=$SECONDS
  timeout --signal=INT --kill-after=20 "$limit" \
    "$cs" --tool "$tool" --error-exitcode 1 --target-processes all --log-file "$log" \
    "${mocha[@]}" --grep "$grep" "$@" > "$OUT_DIR/$tool.mocha.txt" 2>&1
  local rc=$?
  local passing failing summaries
  passing=$(grep -Eo '^ *[0-9]+ passing' "$OUT_DIR/$tool.mocha.txt" | grep -Eo '[0-9]+' | tail -1)
  failing=$(grep -Eo '^ *[0-9]+ failing' "$OUT_DIR/$tool.mocha.txt" | grep -Eo '[0-9]+' | tail -1)
  summaries=$(grep -h 'ERROR SUMMARY' "$log" 2>/dev/null)
  echo "$summaries" | sed 's/^/   /'
  local errors
  errors=$(echo "$summaries" | grep -Eo 'ERROR SUMMARY: [0-9]+' | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
  local status=ok
  [[ $rc -eq 124 || $rc -eq 130 || $rc -eq 137 ]] && status="TIMED OUT after ${limit}s"
  [[ $status == ok && $rc -ne 0 ]] && status="exit $rc"
  echo "   $tool: ${passing:-0} passing, ${failing:-0} failing, $errors errors, $((SECONDS - t0)) s, $status (logs: $log, $OUT_DIR/$tool.mocha.txt)"
  RESULTS+=("$tool: ${passing:-0} passing, ${failing:-0} failing, $errors errors, $((SECONDS - t0)) s, $status")
  [[ $rc -eq 0 && $errors -eq 0 ]]
}

RESULTS=()
ok=0
NODEFORMERS_LEAK_FORWARDS=50 run memcheck "$MEMCHECK_TIMEOUT" '\[cuda:0\]' 'test/**/*.test.ts' || ok=1
run racecheck "$RACECHECK_TIMEOUT" '^(attention|softmax|norms) \[cuda:0\](?!.*(Nq1000|Nq4096|Nk4096|B64 ))' \
  test/attention.test.ts test/ops/softmax.test.ts test/ops/norm.test.ts || ok=1

echo "sanitize-cuda: ${RESULTS[0]}; ${RESULTS[1]}"
exit $ok
