#!/usr/bin/env bash
# Prepares a device call: ../shared/device/pack.sh packs Node and node_modules into .gpu/
# (carried with carry: [".gpu"]), and .gpu/commit records the commit of the tree that will
# travel, "-dirty" when it has uncommitted changes, for scripts/gpu-stage.sh to pass to the
# benchmarks as NODEFORMERS_COMMIT.
# --micro: also builds bench/micro/attn16.cu into build/micro/attn16 with this machine's nvcc
# (CUDA 13.0, as on the device), so that the attn-micro group need not build it there; carry
# "build/micro" beside ".gpu" then.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --micro ]]; then
  mkdir -p build/micro
  nvcc -O3 -std=c++17 -arch=sm_90a --expt-relaxed-constexpr -I native bench/micro/attn16.cu -o build/micro/attn16
  echo "gpu-prep: built build/micro/attn16"
fi
bash ../shared/device/pack.sh
commit=$(git rev-parse --short HEAD)
[[ -z $(git status --porcelain --untracked-files=no) ]] || commit="$commit-dirty"
echo "$commit" > .gpu/commit
echo "gpu-prep: .gpu/commit = $commit"
