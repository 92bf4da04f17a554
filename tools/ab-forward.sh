#!/usr/bin/env bash
# The forward figures of two trees in one device call: the tree in .gpu/base (made here by
# `tools/ab-forward.sh --prepare REV`) and this one. Each is built from clean (its wall time
# and its slowest compile, from ninja's log), then bench/vit.ts and bench/attention.ts run
# for each tree in turn, ROUNDS times (default 1), without peers; PyTorch's figures come
# once, with this tree's last round. Logs and JSON go to /tmp/ab-logs, packed into
# $OUT/ab.tar.gz (the device tool brings back 8 files); the figures are printed too.
#   here:   tools/ab-forward.sh --prepare 6190d78 && tools/gpu-prep.sh
#   device: source .gpu/setup.sh && tools/ab-forward.sh [--no-build-base]
# AB_BUILD_HEAD=0 keeps this tree's build as it is; AB_BENCHES="vit" runs the ViT alone;
# AB_DTYPES="float32" the ViT in those dtypes.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --prepare ]]; then
  rm -rf .gpu/base && mkdir -p .gpu/base
  git archive "$2" -- . ':(exclude)bench/results' | tar -x -C .gpu/base
  echo "ab-forward: .gpu/base = $(git rev-parse --short "$2")"
  exit 0
fi
OUT=${OUT:-build/ab-out}
LOGS=/tmp/ab-logs  # not under build/, which each build removes
rm -rf "$LOGS" && mkdir -p "$OUT" "$LOGS"
trap 'tar -czf "$OUT/ab.tar.gz" -C "$LOGS" .' EXIT
ROUNDS=${ROUNDS:-1}
here=$PWD
base=$here/.gpu/base
[[ -d $base ]] || { echo "ab-forward: no .gpu/base (run --prepare REV here first)" >&2; exit 2; }
ln -sfn "$here/node_modules" "$base/node_modules"

# build TREE NAME: a clean cmake-js build, timed; prints the wall time and the slowest steps.
build() {
  local tree=$1 name=$2 s=$SECONDS
  (cd "$tree" && rm -rf build && npx cmake-js compile --log-level warn > "$LOGS/build-$name.log" 2>&1)
  local rc=$?
  echo "build $name: rc $rc, $((SECONDS - s)) s wall ($(nproc) cores)"
  # .ninja_log: start and end (ms) of each output; the slowest five compiles
  awk -F'\t' 'NR > 1 { printf "%8.1f s  %s\n", ($2 - $1) / 1000, $4 }' "$tree/build/.ninja_log" 2>/dev/null | sort -rn | head -5
  return $rc
}

[[ ${AB_BUILD_HEAD:-1} == 0 ]] || build "$here" head || { tail -40 "$LOGS/build-head.log"; exit 1; }
[[ ${1:-} == --no-build-base ]] || build "$base" base || { tail -40 "$LOGS/build-base.log"; exit 1; }

for round in $(seq 1 "$ROUNDS"); do
  for side in base head; do
    tree=$here; [[ $side == base ]] && tree=$base
    peers=--no-peers; [[ $side == head && $round == "$ROUNDS" ]] && peers=
    for dtype in ${AB_DTYPES:-float16 float32}; do
      echo "== round $round, $side: bench/vit.ts --dtype $dtype $peers"
      (cd "$tree" && node --import tsx bench/vit.ts --dtype "$dtype" $peers --out "$LOGS/vit-$side-$dtype-$round.json") > "$LOGS/vit-$side-$dtype-$round.log" 2>&1
      grep -E 'memory_efficient|sparse|vanilla|PyTorch' "$LOGS/vit-$side-$dtype-$round.log" | grep -vE '^peer ' | head -20
    done
    [[ " ${AB_BENCHES:-vit attention} " == *" attention "* ]] || continue
    echo "== round $round, $side: bench/attention.ts $peers"
    (cd "$tree" && node --import tsx bench/attention.ts $peers --out "$LOGS/attention-$side-$round.json") > "$LOGS/attention-$side-$round.log" 2>&1
    grep -vE '^peer ' "$LOGS/attention-$side-$round.log" | tail -25
  done
done
