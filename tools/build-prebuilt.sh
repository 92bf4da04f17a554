#!/usr/bin/env bash
# Builds the CPU addon the package carries, prebuilds/<platform>-<arch>/nodeformers.node:
# CPU backend only, stripped, source paths mapped out (NODEFORMERS_PORTABLE in CMakeLists.txt). Node-API 8, so one binary serves every Node >= 20.
# Reproducible: a fixed SOURCE_DATE_EPOCH, no build id, its own build directory (--clean
# starts it afresh); the same
# toolchain and sources give the same bytes. It prints the toolchain, the glibc floor (the
# newest GLIBC_ symbol version the binary needs) and the size and sha256.
# Built on Debian 12 (gcc 12.2, glibc 2.36) it needs glibc >= 2.34 and libstdc++ GLIBCXX_3.4.29
# (gcc 11): Debian 12, Ubuntu 22.04, RHEL 9 and later. An older floor needs an older build host.
# Usage: tools/build-prebuilt.sh [--clean] [--check]   (--check: compare with the committed one)
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(node -p 'process.platform + "-" + process.arch')"
out="prebuilds/$target/nodeformers.node"
build=build-prebuilt
export SOURCE_DATE_EPOCH=0 NODEFORMERS_CUDA=OFF LC_ALL=C
[[ " $* " == *" --clean "* ]] && rm -rf "$build"
npx cmake-js compile --log-level warn --out "$build" --CDNODEFORMERS_PORTABLE=ON --CDNODEFORMERS_CUDA=OFF
built="$build/Release/nodeformers.node"
echo "toolchain: $(${CXX:-c++} --version | head -1); $(ldd --version | head -1); cmake $(cmake --version | head -1 | awk '{print $3}')"
floor() { objdump -T "$built" | grep -o "$1_[0-9.]*" | sort -uV | tail -1; }
echo "needs: $(floor GLIBC), $(floor GLIBCXX), $(floor CXXABI)"
node -e "const a = require('./$built'); if (a.backends().join() !== 'cpu') throw new Error('not a CPU-only build')"
if [[ " $* " == *" --check "* ]]; then
  cmp "$built" "$out" && echo "identical to $out"
else
  mkdir -p "$(dirname "$out")"
  cp "$built" "$out"
fi
echo "$out: $(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1)"
