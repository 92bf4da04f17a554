#!/usr/bin/env bash
# A device call's work as a list of groups, run in the order given after one build, each
# step under its own time cap so that the call can end inside the device tool's 600 s.
# The device tool brings back at most 8 files from $OUT (default here build/gpu-out), so
# logs are written to build/gpu-logs and the call ends by packing them into
# $OUT/logs.tar.gz, and bench-results (where the benchmarks write) with BENCHMARKS.md and
# RELIABILITY.md into $OUT/results.tar.gz (the device machine keeps nothing), then printing
# one line per step.
#   tests     npm run test:cuda (~280 s)
#   quick     the CUDA cases of the tensor and fused-block tests, and the ViT memory test (~40 s)
#   train-tests  the CUDA cases of the training tests (autograd, attention backward, losses,
#             dropout, optimizers, the ViT's gradients against PyTorch), then the MNIST example
#             trained on the GPU (its loss curve in $OUT), and timm loading a checkpoint's weights
#             (tools/timm-load-check.ts)
#   train-run  train-tests' last two steps alone: timm loading a checkpoint, then MNIST
#   attention the CUDA cases of the dense and sparse attention, ViT and graph tests alone (~120 s)
#   sparse    the sparse tests (CPU and CUDA) alone
#   tests-gemm  the CUDA cases of the linear, matmul, patch-embedding and graph tests alone (~30 s)
#   ops       bench/ops.ts with PyTorch: layerNorm, softmax, bias+GELU, linear; eager and CUDA graph (~180 s)
#   ops-rounds  bench/ops.ts --small --rounds 3: the ViT's small shapes only, both sides three times in
#             turn, the paired ratios' median and range (~175 s)
#   sparse-bench  bench/sparse.ts with its PyTorch peers (~150 s)
#   host-cuda bench/host_cuda.ts: the host's cost per call of raw addon calls and public ops on tiny
#             tensors, and of a tiny ViT forward (~30 s)
#   host-breakdown  bench/host_breakdown.ts (NODEFORMERS_HOST_TIMES=1): an eager forward's host time
#             and its part inside the CUDA backend by kind, the notebook ViT and the tiny one (~60 s)
#   bench     npm run bench:cuda, the whole flow but training (float16; ~450 s: a call of its own)
#   vit       bench:cuda --dtype float16,float32 --no-sweeps --no-training: the ViT sections with PyTorch
#   sweeps    bench:cuda --no-vit --no-training: kernel sweeps, host costs, plots; keeps the ViT figures
#             (and training figures) that `vit` (and `training`) wrote to bench-results/<date>-<gpu>.json
#             in the same call
#   training  bench:cuda --dtype float16,float32 --no-vit --no-sweeps --training fb,step: section 5's
#             ViT forward + backward rows, the scaling case and a training step, with PyTorch
#   training-attention  bench:cuda --no-vit --no-sweeps --training attention: the attention backward sweep
#   mechanisms  bench:cuda --no-vit --no-sweeps --no-training: section 6, every attention mechanism as one
#             layer at N 256..16384, forward and forward + backward, with peak memory
#   quality   bench/mechanisms_quality.ts: each mechanism trains the pixel-level MNIST ViT for 15 s (~20 s each)
#   training-quick  bench:cuda --quick: the attention backward at N 1024 and 4096 (D 64, float16), then
#             the ViT forward + backward rows in float16 without torch.compile, each as time allows
#   parallel  bench/parallel.ts: the notebook ViT at batch 256 on 1 GPU and across 2 / all
#   graph-memcheck  compute-sanitizer memcheck over tools/graph-memcheck-probe.ts' cases
#   memcheck, graphs, racecheck  one part of tools/sanitize-cuda.sh each (memcheck over the
#             suite but the graph-capturing files; memcheck over those; racecheck), each up to
#             its cap there (400, 150, 500 s): memcheck + graphs in one call, racecheck in another
# Before a call, here: tools/gpu-prep.sh (packs Node and node_modules into .gpu/, records the commit).
# e.g. (device command) source .gpu/setup.sh && tools/gpu-stage.sh tests quick
set -uo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 2; }
OUT=${OUT:-build/gpu-out}
# The commit of the tree that travelled (tools/gpu-prep.sh wrote it): the machine's own
# git metadata is not this checkout's, so bench:cuda would otherwise name a stale commit.
if [[ -f .gpu/commit ]]; then export NODEFORMERS_COMMIT=$(cat .gpu/commit); echo "commit $NODEFORMERS_COMMIT"; fi
LOGS=build/gpu-logs
rm -rf "$LOGS"
mkdir -p "$OUT" "$LOGS"
t0=$SECONDS
summary=()

# The device tool kills a command at 600 s without a word, and then nothing under $OUT comes
# back: every step's cap is cut to what is left of STAGE_DEADLINE seconds (default 560, the
# unpacking before this script included in the rest), so that pack (below) runs in time.
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
  tar -czf "$OUT/results.tar.gz" bench-results BENCHMARKS.md RELIABILITY.md 2>/dev/null
  tar -czf "$OUT/logs.tar.gz" -C "$LOGS" .
  echo "== $* : $((SECONDS - t0)) s in all"
  printf '  %s\n' "${summary[@]}"
}
trap 'pack "$@"' EXIT

step build 200 npm run build || { tail -30 "$LOGS/build.log"; exit 1; }

for group in "$@"; do
  case $group in
    tests)
      step test-cuda 420 npm run test:cuda
      counts "$LOGS/test-cuda.log"
      ;;
    host-breakdown)
      # Where the eager forward's host time goes (bench/host_breakdown.ts): the notebook ViT and the tiny one.
      NODEFORMERS_HOST_TIMES=1 step host-breakdown 90 node --expose-gc --import tsx bench/host_breakdown.ts
      grep -v '^host-times' "$LOGS/host-breakdown.log"
      NODEFORMERS_HOST_TIMES=1 step host-breakdown-tiny 60 node --expose-gc --import tsx bench/host_breakdown.ts 400 --tiny
      grep -v '^host-times' "$LOGS/host-breakdown-tiny.log"
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
    train-tests)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-training 300 npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 120000 \
        --grep 'cuda' test/attention_backward.test.ts test/attention_dropout.test.ts test/autograd/*.test.ts test/clip_grad.test.ts \
        test/loss_fixtures.test.ts test/nn_training.test.ts test/ops/cross_entropy.test.ts test/ops/dropout.test.ts test/ops/mse_loss.test.ts \
        test/ops/patch_backward.test.ts test/optim/*.test.ts test/training/vit_grads.test.ts test/vit_dropout.test.ts test/sparse_plans.test.ts
      counts "$LOGS/tests-training.log"
      grep -E 'worst gradient' "$LOGS/tests-training.log" | head -40
      ;;&
    train-tests|train-run)
      step timm-load 60 node --import tsx tools/timm-load-check.ts --device cuda:0
      tail -2 "$LOGS/timm-load.log"
      step mnist 200 node --import tsx examples/mnist/train.ts --device cuda:0 --epochs 10 --svg "$OUT/mnist-loss.svg"
      grep -E '^epoch|test accuracy' "$LOGS/mnist.log" | tail -12
      ;;
    attention)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-attention 200 npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 120000 \
        --grep 'cuda' test/attention.test.ts test/sparse_attention.test.ts test/vit.test.ts test/graph.test.ts
      counts "$LOGS/tests-attention.log"
      ;;
    sparse)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-sparse 110 npx mocha --grep 'sparse|Sparse|schedule'
      counts "$LOGS/tests-sparse.log"
      ;;
    sparse-bench)
      step bench-sparse 300 node --import tsx bench/sparse.ts --out bench-results/$(date +%F)-sparse.json
      grep -vE '^peer ' "$LOGS/bench-sparse.log" | head -40
      ;;
    tests-gemm)
      NODEFORMERS_REQUIRE_CUDA=1 step tests-gemm 150 npx mocha --no-config --node-option import=tsx --node-option expose-gc --timeout 120000 \
        --grep 'cuda' test/ops/linear.test.ts test/ops/patch.test.ts test/graph.test.ts
      counts "$LOGS/tests-gemm.log"
      ;;
    host-cuda)
      step host-cuda 60 node --import tsx bench/host_cuda.ts
      cat "$LOGS/host-cuda.log"
      ;;
    graph-memcheck)
      cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
      for probe in kept reuse embed reuse:end embed:end; do
        IFS=: read -r case mode <<< "$probe"
        end=0; [[ $mode == end ]] && end=1
        NODEFORMERS_GRAPH_FREES_AT_END=$end step "memcheck-$case-$end" 60 "$cs" --tool memcheck --print-limit 4 node --import tsx tools/graph-memcheck-probe.ts "$case"
        grep -E 'probe|ERROR SUMMARY|Invalid|at .*kernel|nearest allocation' "$LOGS/memcheck-$case-$end.log" | head -8
      done
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
      step bench-cuda 520 npm run bench:cuda -- --no-mechanisms --no-training
      sed -n '/== 2. Summary/,$p' "$LOGS/bench-cuda.log" | head -150
      ;;
    vit)
      step bench-vit 420 npm run bench:cuda -- --no-mechanisms --dtype float16,float32 --no-sweeps --no-training
      sed -n '/== 2. Summary/,$p' "$LOGS/bench-vit.log" | head -60
      ;;
    sweeps)
      step bench-sweeps 420 npm run bench:cuda -- --no-mechanisms --no-vit --no-training
      sed -n '/== 3. Kernel sweeps/,$p' "$LOGS/bench-sweeps.log" | head -120
      ;;
    training)
      step bench-training 520 npm run bench:cuda -- --no-mechanisms --dtype float16,float32 --no-vit --no-sweeps --training fb,step
      sed -n '/== 5. Training/,$p' "$LOGS/bench-training.log" | grep -vE '^peer ' | head -150
      ;;
    training-quick)
      step bench-training-attention-quick 150 npm run bench:cuda -- --no-mechanisms --quick --no-vit --no-sweeps --training attention
      sed -n '/== 5. Training/,$p' "$LOGS/bench-training-attention-quick.log" | grep -vE '^peer ' | head -60
      step bench-training-fb-quick 240 npm run bench:cuda -- --no-mechanisms --quick --dtype float16 --no-compile --no-vit --no-sweeps --training fb
      sed -n '/== 5. Training/,$p' "$LOGS/bench-training-fb-quick.log" | grep -vE '^peer ' | head -80
      ;;
    mechanisms)
      step bench-mechanisms 520 npm run bench:cuda -- --no-vit --no-sweeps --no-training
      sed -n '/== 6. Attention mechanisms/,$p' "$LOGS/bench-mechanisms.log" | head -120
      ;;
    quality)
      step mechanisms-quality 420 node --import tsx bench/mechanisms_quality.ts --device cuda:0 --seconds 15 --out "$OUT/mechanisms-quality.json"
      tail -25 "$LOGS/mechanisms-quality.log"
      ;;
    training-attention)
      step bench-training-attention 520 npm run bench:cuda -- --no-mechanisms --no-vit --no-sweeps --training attention
      sed -n '/== 5. Training/,$p' "$LOGS/bench-training-attention.log" | grep -vE '^peer |^attention ' | head -120
      ;;
    memcheck|graphs|racecheck)
      # sanitize-cuda.sh's own cap ends 30 s before this step's, so that it prints its summary.
      export SANITIZE_MAX_S=$((STAGE_DEADLINE - SECONDS - 30))
      OUT_DIR="$LOGS/sanitize" step "sanitize-$group" 540 bash tools/sanitize-cuda.sh "$group"
      tail -8 "$LOGS/sanitize-$group.log"
      ;;
    *)
      echo "unknown group $group"
      ;;
  esac
done
