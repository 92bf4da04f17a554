#!/usr/bin/env bash
# compute-sanitizer over the CUDA tests, on a machine with a GPU (it fails without one), in
# parts that can each be run alone (the device's calls last at most 10 minutes):
#   memcheck  (out-of-bounds and misaligned device accesses, invalid frees, API errors but the
#             out-of-memory tests' refused allocations, which are counted apart) over
#             every CUDA case of the suite (`--grep '\[cuda:0\]'`) but those that capture CUDA
#             graphs, the ViT leak test cut to 50 forwards (memcheck's cost is per kernel
#             launch; 2 x 4000 forwards would take most of an hour);
#   graphs    memcheck over the files that capture CUDA graphs (graph, bench, parallel), in
#             a process of their own, so that a dead context takes no other case with it
#             (tools/graph-memcheck-probe.ts separates the cases; RELIABILITY.md). It runs
#             with NODEFORMERS_GRAPH_FREES_AT_END=1 unless GRAPH_FREES_AT_END=0 is given;
#   racecheck (shared-memory hazards) over the kernels that use shared memory: attention,
#             softmax, the norms and mean (the only kernels with __shared__ arrays; the
#             sparse kernel has none), without the largest attention shapes
#             (Nq/Nk 1000 and 4096, B 64), which racecheck takes minutes each to replay,
#             without bfloat16 (the float16 kernels' template with another element
#             type: the same shared-memory accesses) and without vanilla (cuBLASLt's GEMMs
#             around the softmax kernel, which the softmax cases cover; cuBLASLt's timed
#             plan candidates make a vanilla case take 5-70 s under racecheck).
# Each writes a log under $OUT_DIR (default build/sanitize-cuda) and this prints its ERROR
# SUMMARY lines and one summary line. Each part has a wall-clock cap (MEMCHECK_TIMEOUT,
# GRAPHS_TIMEOUT, RACECHECK_TIMEOUT, seconds).
#   tools/sanitize-cuda.sh [memcheck] [graphs] [racecheck]     (all three by default)
set -uo pipefail
cd "$(dirname "$0")/.."

# No block cache (native/cuda/cuda_backend.h): a cached block stays allocated in the
# sanitizer's eyes, and blocks get their exact sizes, so an access past a tensor's end is seen.
export NODEFORMERS_CUDA_CACHE_MB=${NODEFORMERS_CUDA_CACHE_MB:-0}
OUT_DIR=${OUT_DIR:-build/sanitize-cuda}
MEMCHECK_TIMEOUT=${MEMCHECK_TIMEOUT:-400}
GRAPHS_TIMEOUT=${GRAPHS_TIMEOUT:-150}
RACECHECK_TIMEOUT=${RACECHECK_TIMEOUT:-500}
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(memcheck graphs racecheck)
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

# run NAME TOOL TIMEOUT GREP FILES...: one compute-sanitizer run; its logs are $OUT_DIR/NAME.*.
run() {
  local name=$1 tool=$2 limit=$3 grep=$4
  shift 4
  # SANITIZE_MAX_S (tools/gpu-stage.sh sets it from its deadline) lowers every cap.
  [[ -n ${SANITIZE_MAX_S:-} && $limit -gt $SANITIZE_MAX_S ]] && limit=$SANITIZE_MAX_S
  local log=$OUT_DIR/$name.log
  echo "== $name: compute-sanitizer --tool $tool (cap ${limit}s): mocha --grep '$grep' $*"
  local t0=$SECONDS
  timeout --signal=INT --kill-after=20 "$limit" \
    "$cs" --tool "$tool" --error-exitcode 1 --target-processes all --log-file "$log" \
    "${mocha[@]}" --grep "$grep" "$@" > "$OUT_DIR/$name.mocha.txt" 2>&1
  local rc=$?
  local passing failing summaries
  passing=$(grep -Eo '^ *[0-9]+ passing' "$OUT_DIR/$name.mocha.txt" | grep -Eo '[0-9]+' | tail -1)
  failing=$(grep -Eo '^ *[0-9]+ failing' "$OUT_DIR/$name.mocha.txt" | grep -Eo '[0-9]+' | tail -1)
  # A run cut by its cap ends before mocha's summary: count the cases it had passed.
  [[ -z $passing ]] && passing="$(grep -c '✔' "$OUT_DIR/$name.mocha.txt") (cut short)"
  summaries=$(grep -h 'ERROR SUMMARY' "$log" 2>/dev/null)
  echo "$summaries" | sed 's/^/   /'
  local errors oom
  errors=$(echo "$summaries" | grep -Eo 'ERROR SUMMARY: [0-9]+' | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
  # The out-of-memory tests ask the pool for more than the device has on purpose: each
  # refusal is an API error report (the cudaMallocAsync and the cudaGetLastError that
  # clears it). They are counted apart; any other report is an error.
  oom=$(grep -c 'Program hit cudaErrorMemoryAllocation' "$log" 2>/dev/null)
  oom=${oom:-0}
  errors=$((errors - oom))
  [[ $oom -gt 0 ]] && echo "   ($oom of the reports are the out-of-memory tests' refused allocations, counted apart)"
  # racecheck ends with RACECHECK SUMMARY lines ("N hazards displayed (E errors, W
  # warnings)"), not ERROR SUMMARY. Each hazard names the kernel it was found in: those in
  # cuBLASLt's own kernels (nvjet*, cutlass*, *gemm*: closed source, outside this project)
  # are counted and named apart from those in ours.
  local races lib_races lib_kernels
  races=$(grep -h 'RACECHECK SUMMARY' "$log" 2>/dev/null | grep -Eo '\([0-9]+ errors' | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
  # A run cut by its cap prints no RACECHECK SUMMARY: count the reports themselves.
  grep -q 'RACECHECK SUMMARY' "$log" 2>/dev/null || races=$(grep -c 'Error: Race reported' "$log" 2>/dev/null)
  races=${races:-0}
  if [[ $races -gt 0 ]]; then
    grep -h 'RACECHECK SUMMARY' "$log" | sed 's/^/   /'
    lib_races=$(grep -Ec 'Error: Race reported between .* at (nvjet|cutlass|[A-Za-z0-9_]*gemm)' "$log")
    lib_kernels=$(grep -Eo 'Error: Race reported between .* at (nvjet|cutlass|[A-Za-z0-9_]*gemm)[A-Za-z0-9_]*' "$log" | sed 's/.* at //' | sort -u | tr '\n' ' ')
    echo "   race errors: $races, of which $lib_races in cuBLASLt's kernels (${lib_kernels:-none}) and $((races - lib_races)) in this project's"
    errors=$((errors + races - lib_races))
    # --error-exitcode 1 counts the library's hazards too: with none of ours and no failing case, that exit is theirs.
    [[ $rc -eq 1 && $errors -eq 0 && ${failing:-0} -eq 0 ]] && rc=0
  fi
  local status=ok
  [[ $rc -eq 124 || $rc -eq 130 || $rc -eq 137 ]] && status="TIMED OUT after ${limit}s"
  # --error-exitcode 1 counts the out-of-memory reports too: with no other report and no
  # failing case, that exit is theirs.
  [[ $rc -eq 1 && $oom -gt 0 && $errors -eq 0 && ${failing:-0} -eq 0 ]] && rc=0
  [[ $status == ok && $rc -ne 0 ]] && status="exit $rc"
  echo "   $name: ${passing:-0} passing, ${failing:-0} failing, $errors errors, $((SECONDS - t0)) s, $status (logs: $log, $OUT_DIR/$name.mocha.txt)"
  local lib_note=""
  [[ ${lib_races:-0} -gt 0 ]] && lib_note=" (and $lib_races race errors in cuBLASLt's kernels)"
  RESULTS+=("$name: ${passing:-0} passing, ${failing:-0} failing, $errors errors$lib_note, $((SECONDS - t0)) s, $status")
  [[ $rc -eq 0 && $errors -eq 0 ]]
}

# The test files that capture CUDA graphs, and the others.
graph_files=(test/graph.test.ts test/bench.test.ts test/parallel.test.ts)
other_files=()
for f in test/*.test.ts test/**/*.test.ts; do
  [[ " ${graph_files[*]} " == *" $f "* ]] || other_files+=("$f")
done

RESULTS=()
ok=0
for part in "${parts[@]}"; do
  case $part in
    memcheck) NODEFORMERS_LEAK_FORWARDS=50 run memcheck memcheck "$MEMCHECK_TIMEOUT" '\[cuda:0\]' "${other_files[@]}" || ok=1 ;;
    graphs) NODEFORMERS_GRAPH_FREES_AT_END=${GRAPH_FREES_AT_END:-1} run memcheck-graphs memcheck "$GRAPHS_TIMEOUT" '\[cuda:0\]' "${graph_files[@]}" || ok=1 ;;
    racecheck)
      run racecheck racecheck "$RACECHECK_TIMEOUT" \
        '^((attention|softmax|norms) \[cuda:0\](?!.*(vanilla|Nq1000|Nq4096|Nk4096|B64 |bfloat16))|elementwise and shape ops \[cuda:0\] mean (?!.*bfloat16))' \
        test/attention.test.ts test/ops/softmax.test.ts test/ops/norm.test.ts test/ops/elementwise.test.ts || ok=1
      ;;
    *) echo "sanitize-cuda: unknown part '$part' (memcheck, graphs, racecheck)"; exit 2 ;;
  esac
done

echo "sanitize-cuda: $(IFS=';'; echo "${RESULTS[*]}")"
exit $ok
