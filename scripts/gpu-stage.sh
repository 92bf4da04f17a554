#!/usr/bin/env bash
# A device call's work as a list of groups, run in the order given after one build, each
# step under its own time cap so that the call can end inside the device tool's 600 s.
# The device tool brings back at most 8 files from $OUT (default here build/gpu-out), so
# logs are written to build/gpu-logs and the call ends by packing them into
# $OUT/logs.tar.gz, bench/results with BENCHMARKS.md and RELIABILITY.md into
# $OUT/results.tar.gz, and Nsight Compute's reports into $OUT/ncu.tar.gz (the device
# machine keeps nothing), then printing one line per step.
#   tests     npm run test:cuda                                          (~280 s on the H200, 2026-12-01)
#   ab        the notebook case's CSR kernel (three schedules) beside the dense kernel: GPU
#             time under a CUDA graph and the host loop, parity with the dense masked kernel;
#             then the notebook ViT as a CUDA graph, sparse beside memory_efficient (~30 s)
#   host-breakdown  bench/host_breakdown.ts (NODEFORMERS_HOST_TIMES=1): an eager forward's host time
#             and its part inside the CUDA backend by kind (allocate, free, gemm, kernel, wait), the
#             notebook ViT and the tiny one, fused blocks and op by op (~60 s)
#   quick     the CUDA cases of the tensor and fused-block tests, and the ViT memory test (~40 s)
#   attention the CUDA cases of the dense and sparse attention, ViT and graph tests alone (~120 s)
#   simt16    the float32 SIMT attention kernel at D <= 16 (NODEFORMERS_ATTN_TF32X3=0): the float32 CUDA tests with it, then the float32 ViT graph with it and with the 3xTF32 default (~150 s)
#   sparse    the sparse tests (CPU and CUDA) alone
#   gelu      the activation and linear tests, then bench/ops.ts --only copy,biasGelu with PyTorch
#   sparse-bench  bench/sparse.ts with its PyTorch peers, issue 5's table (~150 s)
#   eager-probe  bench/vit_eager_probe.ts: the eager notebook ViT's host time, wall time and graph time per forward, each case twice
#   small-probe  bench/eager_small_probe.ts: eager, host, wall and graph time of a small op call (~40 s)
#   alloc-ab  bench/alloc_ab.ts from this tree and from .gpu/base (scripts/gpu-prep.sh --base REV) in
#             turn, three rounds: the host's cost of allocating small calls, before and after (~70 s)
#   linear-probe  bench/linear_probe.ts three times (NODEFORMERS_DEBUG_PLANS=1, NODEFORMERS_HOST_TIMES=1):
#             the ViT linear cases' eager, host and in-gemm time and the plans picked, then
#             bench/ops.ts --only linear with PyTorch (~100 s)
#   tests-gemm  the CUDA cases of the linear, matmul, patch-embedding and graph tests alone (~31 s)
#   lt-algos  bench/micro/lt_algos.cu, built here with the device's cuBLASLt: the host, GPU and eager
#             time of every cuBLASLt configuration for the ViT's small linears, then PyTorch's
#             F.linear measured the same way (bench/micro/torch_linear_host.py; ~30 s)
#   launch-cost  build/micro/launch_cost (scripts/gpu-prep.sh --micro; carry build/micro): what
#             cudaSetDevice, a launch and cudaMallocAsync + cudaFreeAsync cost the host (~5 s)
#   host-cuda  bench/host_cuda.ts: the host's cost per call of raw addon calls and public ops on tiny tensors,
#             and of a tiny ViT forward with its blocks as one native call each and op by op (~30 s)
#   host-profile  bench/host_profile.ts: where the host's time goes in attention(), sparse beside dense
#   gelu-micro  bench/micro/gelu16.cu: GELU formulas in the library's bias + activation kernel (16-bit)
#   attn-micro  bench/micro/attn16.cu: tilings of the attention kernels (float16, float32) at head dim 16 on the notebook case, then SkipTails on and off at D = 64 (~75 s)
#   graph-memcheck  compute-sanitizer memcheck over scripts/graph-memcheck-probe.ts' cases
#   ncu       Nsight Compute (--set full) over the notebook case's dense, CSR and merge kernels
#   flex-peer bench/peers/sparse.py's FlexAttention over one 64-block layout, alone (~30 s)
#   ops       bench/ops.ts with PyTorch: layerNorm, softmax, bias+GELU, linear; eager and CUDA graph (~180 s)
#   ops-rounds  bench/ops.ts --small --rounds 3: the ViT's small shapes only, both sides three times in
#             turn, the paired ratios' median and range (~175 s)
#   bench     npm run bench:cuda, the whole flow (float16; ~450 s: a call of its own)
#   parallel  bench/parallel.ts: the notebook ViT at batch 256 on 1 GPU and across 2 / all (issue 9)
#   vit       bench:cuda --dtype float16,float32 --no-sweeps: the ViT sections with PyTorch
#   sweeps    bench:cuda --no-vit: kernel sweeps, host costs, plots; keeps the ViT figures that
#             `vit` wrote to bench/results/<date>-H200.json (copy that file back into the tree first)
#   memcheck, graphs, racecheck  one part of scripts/sanitize-cuda.sh each (memcheck over the
#             suite but the graph-capturing files; memcheck over those; racecheck), each up to
#             its cap there (400, 150, 500 s): memcheck + graphs in one call, racecheck in another
# Before a call, here: scripts/gpu-prep.sh (packs Node and node_modules into .gpu/, records the commit).
# e.g. (device command) source .gpu/setup.sh && scripts/gpu-stage.sh tests ab
set -uo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 2; }
OUT=${OUT:-build/gpu-out}
# The commit of the tree that travelled (scripts/gpu-prep.sh wrote it): the machine's own
# git metadata is not this checkout's, so bench:cuda would otherwise name a stale commit.
if [[ -f .gpu/commit ]]; then export NODEFORMERS_COMMIT=$(cat .gpu/commit); echo "commit $NODEFORMERS_COMMIT"; fi
LOGS=build/gpu-logs
rm -rf "$LOGS"
mkdir -p "$OUT" "$LOGS"
t0=$SECONDS
summary=()

# The device tool kills a command at 600 s without a word, and then nothing under $OUT comes
# back (2026-12-02: a call of attn-micro and bench lost both). So every step's cap is cut to
# what is left of STAGE_DEADLINE seconds (default 560, the unpacking before this script
# included in the rest), and pack (below) runs in time.
STAGE_DEADLINE=${STAGE_DEADLINE:-560}

# step NAME CAP CMD...: runs CMD under a cap of CAP seconds (at most what is left of
# STAGE_DEADLINE), its output in $LOGS/NAME.log.
step() {
  local name=$1 cap=$2
  shift 2
  local s=$SECONDS
  local left=$((STAGE_DEADLINE - SECONDS))
  if ((left < 10)); then
    summary+=("$name: not run, the deadline of ${STAGE_DEADLINE}s is reached")
    echo "== $name: not run (deadline)"
    return 124
  fi
  ((cap > left)) && cap=$left
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
      step test-cuda 400 npm run test:cuda
      counts "$LOGS/test-cuda.log"
      ;;
    ab)
      step ab-kernel 90 node --import tsx bench/sparse_kernel_time.ts
      cat "$LOGS/ab-kernel.log"
      step ab-vit 60 node --import tsx bench/vit_graph_ab.ts
      tail -1 "$LOGS/ab-vit.log"
      ;;
    host-breakdown)
      # Where the eager forward's host time goes (bench/host_breakdown.ts): the notebook ViT
      # and the tiny one, with fused blocks and op by op.
      NODEFORMERS_HOST_TIMES=1 step host-breakdown 90 node --expose-gc --import tsx bench/host_breakdown.ts
      grep -v '^host-times' "$LOGS/host-breakdown.log"
      NODEFORMERS_HOST_TIMES=1 step host-breakdown-tiny 60 node --expose-gc --import tsx bench/host_breakdown.ts 400 --tiny
      grep -v '^host-times' "$LOGS/host-breakdown-tiny.log"
      NODEFORMERS_FUSED_BLOCK=0 NODEFORMERS_HOST_TIMES=1 step host-breakdown-ops 120 node --expose-gc --import tsx bench/host_breakdown.ts
      grep -v '^host-times' "$LOGS/host-breakdown-ops.log" | sed 's/^/ops: /'
      NODEFORMERS_FUSED_BLOCK=0 NODEFORMERS_HOST_TIMES=1 step host-breakdown-ops-tiny 60 node --expose-gc --import tsx bench/host_breakdown.ts 400 --tiny
      grep -v '^host-times' "$LOGS/host-breakdown-ops-tiny.log" | sed 's/^/ops: /'
      ;;
    quick)
      # The CUDA cases of the tensor and fused-block tests and the ViT memory test: a check of
      # a host-side or memory change that fits in what a session's budget has left (~40 s).
      NODEFORMERS_REQUIRE_CUDA=1 step tests-quick 120 npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 120000 \
        --grep '\[cuda:0\]' test/tensor.test.ts test/fused_block.test.ts
      counts "$LOGS/tests-quick.log"
      NODEFORMERS_REQUIRE_CUDA=1 step tests-vit-memory 60 npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 120000 \
        --grep 'ViT forward memory \[cuda:0\]' test/vit.test.ts
      grep -E 'peak over|passing|failing' "$LOGS/tests-vit-memory.log"
      ;;
    attention)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-attention 200 npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 120000 \
        --grep 'cuda' test/attention.test.ts test/sparse_attention.test.ts test/vit.test.ts test/graph.test.ts
      counts "$LOGS/tests-attention.log"
      ;;
    simt16)
      # The float32 SIMT attention kernel at head dims <= 16, which the 3xTF32 tensor-core
      # kernel (native/cuda/attention_tf32x3.cuh) replaced on 2026-12-02: the float32 CUDA
      # cases of the attention, sparse, ViT and graph tests with it
      # (NODEFORMERS_ATTN_TF32X3=0), then the float32 ViT as a CUDA graph with each.
      NODEFORMERS_ATTN_TF32X3=0 NODEFORMERS_REQUIRE_CUDA=1 step tests-simt16 150 npx mocha --no-config --node-option import=tsx \
        --node-option expose-gc --timeout 120000 --grep 'cuda.*float32|float32.*cuda' test/attention.test.ts test/sparse_attention.test.ts test/vit.test.ts test/graph.test.ts
      counts "$LOGS/tests-simt16.log"
      NODEFORMERS_ATTN_TF32X3=0 step vit-f32-simt 60 node --import tsx bench/vit_graph_ab.ts float32
      tail -1 "$LOGS/vit-f32-simt.log"
      step vit-f32-tf32x3 60 node --import tsx bench/vit_graph_ab.ts float32
      tail -1 "$LOGS/vit-f32-tf32x3.log"
      ;;
    sparse)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-sparse 110 npx mocha --grep 'sparse|Sparse|schedule'
      counts "$LOGS/tests-sparse.log"
      ;;
    gelu)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-activation 90 npx mocha --grep 'activation|Activation|gelu|GELU'
      counts "$LOGS/tests-activation.log"
      step bench-gelu 120 node --import tsx bench/ops.ts --only copy,biasGelu --out build/gpu-logs/ops-gelu.json
      grep -E '^\||^The same|^NVIDIA|wrote' "$LOGS/bench-gelu.log" | head -30
      ;;
    sparse-bench)
      step bench-sparse 300 node --import tsx bench/sparse.ts --out bench/results/$(date +%F)-H200-sparse.json
      grep -vE '^peer ' "$LOGS/bench-sparse.log" | head -40
      ;;
    small-probe)
      step small-probe 120 node --import tsx bench/eager_small_probe.ts
      cat "$LOGS/small-probe.log"
      # the small shape again without the block cache: what it saves an allocating call
      NODEFORMERS_CUDA_CACHE_MB=0 step small-probe-nocache 90 node --import tsx bench/eager_small_probe.ts --small
      cat "$LOGS/small-probe-nocache.log"
      ;;
    alloc-ab)
      for round in 1 2 3; do
        NODEFORMERS_ADDON=build/Release/nodeformers.node step alloc-ab-$round-base 60 node --import tsx bench/alloc_ab.ts .gpu/base base
        NODEFORMERS_ADDON=build/Release/nodeformers.node step alloc-ab-$round-new 60 node --import tsx bench/alloc_ab.ts . new
      done
      # the backend's part of the new tree's calls (NODEFORMERS_HOST_TIMES=1)
      NODEFORMERS_HOST_TIMES=1 step alloc-ab-host-times 60 node --import tsx bench/alloc_ab.ts . times
      cat "$LOGS"/alloc-ab-*.log
      ;;
    linear-probe)
      for round in 1 2 3; do
        NODEFORMERS_DEBUG_PLANS=1 NODEFORMERS_HOST_TIMES=1 step linear-probe-$round 60 node --import tsx bench/linear_probe.ts
        cat "$LOGS/linear-probe-$round.log"
      done
      step bench-linear 120 node --import tsx bench/ops.ts --only linear --out build/gpu-logs/ops-linear.json
      grep -E '^\||^The same|^NVIDIA|wrote' "$LOGS/bench-linear.log" | head -30
      ;;
    tests-gemm)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-gemm 150 npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 120000 \
        --grep 'cuda' test/ops/linear.test.ts test/ops/patch.test.ts test/graph.test.ts
      counts "$LOGS/tests-gemm.log"
      ;;
    lt-algos)
      mkdir -p build/micro
      step lt-algos-build 90 nvcc -O3 -std=c++17 -arch=sm_90a -I native bench/micro/lt_algos.cu native/cuda/spin.cu -o build/micro/lt_algos -lcublasLt &&
        step lt-algos 200 build/micro/lt_algos
      cat "$LOGS/lt-algos-build.log" "$LOGS/lt-algos.log"
      step torch-linear-host 60 python3 bench/micro/torch_linear_host.py
      cat "$LOGS/torch-linear-host.log"
      ;;
    launch-cost)
      step launch-cost 30 build/micro/launch_cost
      cat "$LOGS/launch-cost.log"
      ;;
    eager-probe)
      NODEFORMERS_DEBUG_PLANS=1 step eager-probe 120 node --expose-gc --import tsx bench/vit_eager_probe.ts
      grep -v '^cuBLASLt plan' "$LOGS/eager-probe.log"
      echo "cuBLASLt plans made: $(grep -c '^cuBLASLt plan' "$LOGS/eager-probe.log"); made while timing: $(awk '/^-- timed/ {t = 1} /^float/ {t = 0} t && /^cuBLASLt plan/' "$LOGS/eager-probe.log" | wc -l)"
      # the same with the blocks op by op (the A/B of the native encoderBlock call)
      NODEFORMERS_FUSED_BLOCK=0 step eager-probe-ops 120 node --expose-gc --import tsx bench/vit_eager_probe.ts
      grep -v '^cuBLASLt plan' "$LOGS/eager-probe-ops.log" | sed 's/^/ops: /'
      ;;
    host-cuda)
      step host-cuda 60 node --import tsx bench/host_cuda.ts
      cat "$LOGS/host-cuda.log"
      # the tiny ViT's blocks op by op, for the A/B of the native encoderBlock call
      NODEFORMERS_FUSED_BLOCK=0 step host-cuda-ops 60 node --import tsx bench/host_cuda.ts
      grep tiny "$LOGS/host-cuda-ops.log" | sed 's/^/ops: /'
      ;;
    host-profile)
      step host-profile 90 node --import tsx bench/host_profile.ts
      cat "$LOGS/host-profile.log"
      ;;
    gelu-micro)
      step gelu-micro-build 120 nvcc -O3 -std=c++17 -arch=sm_90a -I native bench/micro/gelu16.cu -o build/gelu16
      step gelu-micro 60 build/gelu16
      cat "$LOGS/gelu-micro.log"
      ;;
    attn-micro)
      # build/micro/attn16 when it travelled (scripts/gpu-prep.sh --micro builds it here, with
      # the same nvcc, and carry: [".gpu", "build/micro"]), else built now (~75 s).
      if [[ -x build/micro/attn16 ]]; then
        echo "== attn-micro: the carried build/micro/attn16"
      else
        mkdir -p build/micro
        step attn-micro-build 150 nvcc -O3 -std=c++17 -arch=sm_90a --expt-relaxed-constexpr -I native bench/micro/attn16.cu -o build/micro/attn16
      fi
      step attn-micro 90 build/micro/attn16
      cat "$LOGS/attn-micro.log"
      ;;
    graph-memcheck)
      cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
      for probe in kept reuse embed reuse:end embed:end; do
        IFS=: read -r case mode <<< "$probe"
        end=0; [[ $mode == end ]] && end=1
        NODEFORMERS_GRAPH_FREES_AT_END=$end step "memcheck-$case-$end" 60 "$cs" --tool memcheck --print-limit 4 node --import tsx scripts/graph-memcheck-probe.ts "$case"
        grep -E 'probe|ERROR SUMMARY|Invalid|at .*kernel|nearest allocation' "$LOGS/memcheck-$case-$end.log" | head -8
      done
      ;;
    ncu)
      step ncu 90 "$ncu" --clock-control none --set full \
        -k 'regex:attention_tc_kernel|sparse_attention_kernel|sparse_merge_kernel' --launch-count 12 \
        -o "$LOGS/ncu" node --import tsx bench/sparse_kernel_time.ts --profile
      "$ncu" --import "$LOGS/ncu.ncu-rep" --page details > "$LOGS/ncu.txt" 2>&1
      grep -E '^  [a-z_]+.*\(|Duration|Memory Throughput|L1/TEX Hit Rate|L2 Hit Rate|Achieved Occupancy|Compute \(SM\) Throughput|Issue Slots Busy|L1/TEX Cache Throughput|L2 Cache Throughput|Registers Per Thread' \
        "$LOGS/ncu.txt" | head -120
      ;;
    flex-peer)
      # bench/peers/sparse.py's FlexAttention over a random 64-block layout (the sweep's case), alone
      python3 -c 'import json, random; random.seed(7); n = 16; on = set(random.sample(range(n * n), 13))
json.dump([{"name": "block_sparse density 0.05", "B": 8, "H": 8, "N": 1024, "D": 64, "block": 64,
            "layout": [int(i in on) for i in range(n * n)]}], open("build/flex-case.json", "w"))'
      step flex-peer 120 python3 bench/peers/sparse.py build/flex-case.json "$LOGS/flex-peer.json"
      cat "$LOGS/flex-peer.log"
      ;;
    ops)
      step bench-ops 220 node --import tsx bench/ops.ts
      grep -E '^\||^The same|^NVIDIA|wrote' "$LOGS/bench-ops.log" | head -70
      ;;
    ops-rounds)
      step bench-ops-rounds 280 node --import tsx bench/ops.ts --small --rounds 3 --min-run-time 0.1 --out build/gpu-logs/ops-rounds.json
      grep -E '^\||^The same|^NVIDIA|wrote' "$LOGS/bench-ops-rounds.log" | head -70
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
    memcheck|graphs|racecheck)
      # sanitize-cuda.sh's own cap ends 30 s before this step's, so that it prints its summary.
      export SANITIZE_MAX_S=$((STAGE_DEADLINE - SECONDS - 30))
      OUT_DIR="$LOGS/sanitize" step "sanitize-$group" 540 bash scripts/sanitize-cuda.sh "$group"
      tail -8 "$LOGS/sanitize-$group.log"
      ;;
    *)
      echo "unknown group $group"
      ;;
  esac
done
