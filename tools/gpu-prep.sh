#!/usr/bin/env bash
# Prepares a device call: ../shared/device/pack.sh packs Node and node_modules into .gpu/
# (carried with carry: [".gpu"]), and .gpu/commit records the commit of the tree that will
# travel, "-dirty" when it has uncommitted changes, for tools/gpu-stage.sh to pass to the
# benchmarks as NODEFORMERS_COMMIT.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 0 ]] || { echo "gpu-prep: takes no options, got $*" >&2; exit 2; }
# What the device needs not, so that a call fits its 64 MiB: sharp's libvips binaries (@img;
# image decoding is the host's, those CPU cases skip there; sharp's own JS and types stay, so
# tsc builds), the MNIST package's second copy of its data, node-gyp.
export PACK_EXCLUDE=${PACK_EXCLUDE-@img mnist/dist node-gyp}
bash ../shared/device/pack.sh
commit=$(git rev-parse --short HEAD)
[[ -z $(git status --porcelain --untracked-files=no) ]] || commit="$commit-dirty"
echo "$commit" > .gpu/commit
echo "gpu-prep: .gpu/commit = $commit"
