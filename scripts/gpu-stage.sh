#!/usr/bin/env bash
# A device call's work as a list of groups, run in the order given after one build, each
# step under its own time cap so that the call can end inside the device tool's 600 s.
# The device tool brings back at most 8 files from $OUT (default here build/gpu-out), so
# logs are written to build/gpu-logs and the call ends by packing them into
# $OUT/logs.tar.gz, bench/results with BENCHMARKS.md and RELIABILITY.md into
# $OUT/results.tar.gz, and Nsight Compute's reports into $OUT/ncu.tar.gz (the device
# machine keeps nothing), then printing one line per step.
#   tests     npm run test:cuda                                          (~260 s on the H200)
#   ab        the sparse kernel's variants on the notebook case: GPU time under a CUDA graph
#             and the host loop, parity with the dense masked kernel, and the notebook ViT as
#             a CUDA graph, sparse beside memory_efficient               (~35 s each, 6 of them)
#   rows      the sparse tests (CPU and CUDA) with the row-layout kernel (NODEFORMERS_SPARSE_LAYOUT=rows)
#   ncu       Nsight Compute (--set full) over the notebook case's dense and CSR kernels, both layouts
#   ops       bench/ops.ts with PyTorch: layerNorm, softmax, bias+GELU, linear; eager and CUDA graph (~120 s)
#   bench     npm run bench:cuda, the whole flow (float16; ~450 s: a call of its own)
#   parallel  bench/parallel.ts: the notebook ViT at batch 256 on 1 GPU and across 2 / all (issue 9)
#   vit       bench:cuda --dtype float16,float32 --no-sweeps: the ViT sections with PyTorch
#   sweeps    bench:cuda --no-vit: kernel sweeps, host costs, plots; keeps the ViT figures that
#             `vit` wrote to bench/results/<date>-H200.json (copy that file back into the tree first)
#   sanitize  scripts/sanitize-cuda.sh (memcheck + racecheck, ~8 min: a call of its own)
# e.g. (device command) source .gpu/setup.sh && scripts/gpu-stage.sh tests ab
set -uo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { sed -n '2,20p' "$0"; exit 2; }
OUT=${OUT:-build/gpu-out}
LOGS=build/gpu-logs
rm -rf "$LOGS"
mkdir -p "$OUT" "$LOGS"
t0=$SECONDS
summary=()

# step NAME CAP CMD...: runs CMD under a cap of CAP seconds, its output in $LOGS/NAME.log.
step() {
  local name=$1 cap=$2
  shift 2
  local s=$SECONDS
  timeout --signal=INT --kill-after=15 "$cap" "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  local status="rc $rc"
  [[ $rc -eq 124 || $rc -eq 130 || $rc -eq 137 ]] && status="CUT at ${cap}s"
  summary+=("$name: $status, $((SECONDS - s)) s")
  echo "== $name: $status, $((SECONDS - s)) s"
  return $rc
}

counts() { grep -E '^ +[0-9]+ (passing|failing|pending)' "$1"; grep -A8 -E '^  [0-9]+\) ' "$1" | head -60; }

pack() {
  nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > "$LOGS/gpu.csv" 2>&1
  tar -czf "$OUT/results.tar.gz" bench/results BENCHMARKS.md RELIABILITY.md 2>/dev/null
  if compgen -G "$LOGS/*.ncu-rep" > /dev/null; then tar -czf "$OUT/ncu.tar.gz" -C "$LOGS" $(cd "$LOGS" && ls *.ncu-rep) && rm -f "$LOGS"/*.ncu-rep; fi
  tar -czf "$OUT/logs.tar.gz" -C "$LOGS" .
  echo "== $* : $((SECONDS - t0)) s in all"
  printf '  %s\n' "${summary[@]}"
}
trap 'pack "$@"' EXIT

step build 150 npm run build || { tail -30 "$LOGS/build.log"; exit 1; }

ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for group in "$@"; do
  case $group in
    tests)
      step test-cuda 320 npm run test:cuda
      counts "$LOGS/test-cuda.log"
      ;;
    ab)
      # layout:warps a block:entries a step:rounds of units a block (the last two: rows only)
      for variant in slots:4:4:1 slots:16:4:1 rows:4:4:1 rows:16:4:1 rows:16:4:3 rows:4:8:1; do
        IFS=: read -r layout warps chunk repeat <<< "$variant"
        name="ab-$layout-w$warps-c$chunk-r$repeat"
        NODEFORMERS_SPARSE_LAYOUT=$layout NODEFORMERS_SPARSE_WARPS=$warps NODEFORMERS_SPARSE_CHUNK=$chunk NODEFORMERS_SPARSE_REPEAT=$repeat \
          step "$name" 60 node --import tsx bench/sparse_kernel_time.ts
        cat "$LOGS/$name.log"
        NODEFORMERS_SPARSE_LAYOUT=$layout NODEFORMERS_SPARSE_WARPS=$warps NODEFORMERS_SPARSE_CHUNK=$chunk NODEFORMERS_SPARSE_REPEAT=$repeat \
          step "$name-vit" 60 node --import tsx bench/vit_graph_ab.ts
        tail -1 "$LOGS/$name-vit.log"
      done
      ;;
    rows)
      NODEFORMERS_SPARSE_LAYOUT=rows NODEFORMERS_REQUIRE_CUDA=1 step tests-rows 150 npx mocha --grep 'sparse|Sparse'
      counts "$LOGS/tests-rows.log"
      ;;
    ncu)
      for layout in slots rows; do
        NODEFORMERS_SPARSE_LAYOUT=$layout step "ncu-$layout" 90 "$ncu" --clock-control none --set full \
          -k 'regex:attention_tc_kernel|sparse_attention_kernel|sparse_rows_kernel' --launch-count 8 \
          -o "$LOGS/ncu-$layout" node --import tsx bench/sparse_kernel_time.ts --profile
        "$ncu" --import "$LOGS/ncu-$layout.ncu-rep" --page details > "$LOGS/ncu-$layout.txt" 2>&1
        grep -E '^  [a-z_]+.*\(|Duration|Memory Throughput|L1/TEX Hit Rate|L2 Hit Rate|Achieved Occupancy|Compute \(SM\) Throughput|Issue Slots Busy|L1/TEX Cache Throughput|L2 Cache Throughput|Registers Per Thread' \
          "$LOGS/ncu-$layout.txt" | head -100
      done
      ;;
    ops)
      step bench-ops 200 node --import tsx bench/ops.ts
      grep -E '^\||^The same|^NVIDIA|wrote' "$LOGS/bench-ops.log" | head -70
      ;;
    parallel)
      step bench-parallel 200 node --import tsx bench/parallel.ts
      tail -25 "$LOGS/bench-parallel.log"
      ;;
    bench)
      step bench-cuda 520 npm run bench:cuda
      sed -n '/== 2. Summary/,$p' "$LOGS/bench-cuda.log" | head -150
      ;;
    vit)
      step bench-vit 420 npm run bench:cuda -- --dtype float16,float32 --no-sweeps
      sed -n '/== 2. Summary/,$p' "$LOGS/bench-vit.log" | head -60
      ;;
    sweeps)
      step bench-sweeps 420 npm run bench:cuda -- --no-vit
      sed -n '/== 3. Kernel sweeps/,$p' "$LOGS/bench-sweeps.log" | head -120
      ;;
    sanitize)
      OUT_DIR="$LOGS/sanitize" step sanitize 450 bash scripts/sanitize-cuda.sh
      tail -20 "$LOGS/sanitize.log"
      ;;
    *)
      echo "unknown group $group"
      ;;
  esac
done
