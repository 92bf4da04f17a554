#!/usr/bin/env bash
# Builds the CUDA backend on a machine without cuBLASLt and cuFFT (or a GPU): tools/link-check/
# stands in for their headers and an empty library for each .so, cmake-js compiles every CUDA unit
# for sm_90a into build-link-check/, and the addon's undefined symbols are listed: any of
# this project's own (namespace nf) is a link error the device would hit at load time.
# Nothing built here runs. Takes minutes (every attention unit) on a small machine.
#   tools/cuda-link-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build-link-check
mkdir -p "$OUT/stub"
echo 'void nf_link_check_stub(void) {}' > "$OUT/stub/stub.c"
gcc -shared -fPIC -o "$OUT/stub/libcublasLt.so" "$OUT/stub/stub.c"
cp "$OUT/stub/libcublasLt.so" "$OUT/stub/libcufft.so"
# The stand-in headers through the compilers' CPATH (cmake-js sets CMAKE_CXX_FLAGS itself).
CPATH="$PWD/tools/link-check${CPATH:+:$CPATH}" NODEFORMERS_CUDA=ON NODEFORMERS_CUDA_ARCHITECTURES=90a \
  npx cmake-js compile --out "$OUT" --log-level warn --CDCUDA_cublasLt_LIBRARY="$PWD/$OUT/stub/libcublasLt.so" \
  --CDCUDA_cufft_LIBRARY="$PWD/$OUT/stub/libcufft.so"
addon="$OUT/Release/nodeformers.node"
own=$(nm -uC "$addon" | grep -E ' nf::' || true)
if [[ -n $own ]]; then
  echo "cuda-link-check: $addon leaves this project's symbols undefined:" >&2
  echo "$own" >&2
  exit 1
fi
echo "cuda-link-check: $addon built with the CUDA backend; every nf:: symbol is defined ($(nm -uC "$addon" | wc -l) undefined symbols, none of ours)"
