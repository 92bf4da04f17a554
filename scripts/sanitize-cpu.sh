#!/usr/bin/env bash
# Builds the addon (CPU backend only) with AddressSanitizer and UBSan into build-asan/ and
# runs the mocha suite against it. Node itself is not instrumented, so the ASan runtime is
# preloaded; leak detection is off (Node "leaks" at exit by design). Any ASan report or
# UBSan "runtime error" fails the run. Ends with one summary line.
#   scripts/sanitize-cpu.sh [mocha args...]   (default: the whole suite, as .mocharc says)
set -uo pipefail
cd "$(dirname "$0")/.."

out=build-asan
log=${SANITIZE_LOG:-$out/sanitize-cpu.log}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"

echo "== building the addon with $flags into $out/"
if ! npx cmake-js compile --out "$out" --log-level warn \
    --CDNODEFORMERS_CUDA=OFF --CDCMAKE_BUILD_TYPE=RelWithDebInfo \
    "--CDCMAKE_CXX_FLAGS=$flags" "--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined"; then
  echo "sanitize-cpu: build failed"
  exit 1
fi
addon=$out/Release/nodeformers.node
[[ -f $addon ]] || addon=$(find "$out" -name nodeformers.node | head -1)

preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
echo "== mocha against $addon (LD_PRELOAD=$preload)"
mkdir -p "$(dirname "$log")"
LD_PRELOAD="$preload" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
NODEFORMERS_ADDON="$addon" \
  npx mocha "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

passing=$(grep -Eo '^ *[0-9]+ passing' "$log" | grep -Eo '[0-9]+' | tail -1)
failing=$(grep -Eo '^ *[0-9]+ failing' "$log" | grep -Eo '[0-9]+' | tail -1)
pending=$(grep -Eo '^ *[0-9]+ pending' "$log" | grep -Eo '[0-9]+' | tail -1)
asan=$(grep -c 'ERROR: AddressSanitizer' "$log")
ubsan=$(grep -c 'runtime error:' "$log")
echo "sanitize-cpu: ${passing:-0} passing, ${failing:-0} failing, ${pending:-0} pending; AddressSanitizer errors: $asan, UBSan runtime errors: $ubsan; mocha exit $rc (log: $log)"
[[ $rc -eq 0 && $asan -eq 0 && $ubsan -eq 0 ]]
