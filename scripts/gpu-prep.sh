#!/usr/bin/env bash
# Prepares a device call: ../shared/device/pack.sh packs Node and node_modules into .gpu/
# (carried with carry: [".gpu"]), and .gpu/commit records the commit of the tree that will
# travel, "-dirty" when it has uncommitted changes, for scripts/gpu-stage.sh to pass to the
# benchmarks as NODEFORMERS_COMMIT.
# --micro: also builds bench/micro/attn16.cu and launch_cost.cu into build/micro/ with this
# machine's nvcc (CUDA 13.0, as on the device), so that the attn-micro and launch-cost groups
# need not build them there; carry "build/micro" beside ".gpu" then.
# --base REV: unpacks REV's ts/ and bench/ into .gpu/base, the other side of the alloc-ab group.
set -euo pipefail
cd "$(dirname "$0")/.."
while [[ $# -gt 0 ]]; do
  case $1 in
    --micro)
      mkdir -p build/micro
      nvcc -O3 -std=c++17 -arch=sm_90a --expt-relaxed-constexpr -I native bench/micro/attn16.cu -o build/micro/attn16
      nvcc -O3 -std=c++17 -arch=sm_90a bench/micro/launch_cost.cu -o build/micro/launch_cost
      echo "gpu-prep: built build/micro/attn16 and build/micro/launch_cost"
      shift ;;
    --base)
      rm -rf .gpu/base && mkdir -p .gpu/base
      git archive "$2" ts bench ':(exclude)bench/results' | tar -x -C .gpu/base
      echo "gpu-prep: .gpu/base = $(git rev-parse --short "$2")'s ts/ and bench/"
      shift 2 ;;
    *) echo "gpu-prep: unknown option $1" >&2; exit 2 ;;
  esac
done
bash ../shared/device/pack.sh
commit=$(git rev-parse --short HEAD)
[[ -z $(git status --porcelain --untracked-files=no) ]] || commit="$commit-dirty"
echo "$commit" > .gpu/commit
echo "gpu-prep: .gpu/commit = $commit"
