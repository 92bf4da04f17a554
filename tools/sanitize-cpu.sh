#!/usr/bin/env bash
# Builds the addon (CPU backend only) with sanitizers, proves the instrumentation, then runs
# tests against it. Ends with one line: "N passed, N failed, N skipped" (.ci/run adds it up).
#   tools/sanitize-cpu.sh [mocha args...]           ASan + UBSan into build-asan/; the whole suite
#   tools/sanitize-cpu.sh --thread [mocha args...]  TSan into build-tsan/; worker_threads, thread pool, CPU queue
# The proof, each a counted check: the .node calls the sanitizer's runtime (nm -D), and the
# test-only __canary(kind) of native/addon/sanitizer_canary.cc, run in a child process, is
# reported with its frame in native/ ('none', the control, stays silent). Node itself is not
# instrumented, so the runtime is preloaded. A report ends the run as a failure: ASan and
# UBSan halt; a TSan report with a frame in native/ counts as one failure each, the others are
# Node/V8 noise (tools/tsan-suppressions.txt silences the known ones; the rest are listed).
# TSan sees the addon's own accesses from every thread (each worker's addon instance, shared
# statics) ordered by the pthread locks any code takes; it cannot see Node's or V8's accesses,
# nor the order their own atomics make (so a handoff through them alone would be reported).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=address
if [[ ${1:-} == --thread ]]; then mode=thread; shift; fi
passed=0 failed=0 skipped=0
check() {  # check LABEL CONDITION-EXIT-STATUS
  if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAILED: $1"; fi
}
finish() {
  echo "sanitize-cpu ($mode): ${passed} passed, ${failed} failed, ${skipped} skipped"
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
  [[ $failed -eq 0 ]]
  exit
}

if [[ $mode == address ]]; then
  out=build-asan
  sanitize=address,undefined
  runtimes=(asan ubsan)
  symbols=(__asan_report_load __ubsan_handle_)
  canaries=("use-after-free:ERROR: AddressSanitizer: heap-use-after-free" "signed-overflow:runtime error: signed integer overflow")
  # halt_on_error: the first report ends the process; allocator_may_return_null: the OOM tests get their Error.
  san_env=(ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1
           UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
  (($# > 0)) || set -- --reporter dot
else
  out=build-tsan
  sanitize=thread
  runtimes=(tsan)
  symbols=(__tsan_read __tsan_func_entry)
  canaries=("data-race:WARNING: ThreadSanitizer: data race")
  san_env=("TSAN_OPTIONS=suppressions=$PWD/tools/tsan-suppressions.txt:halt_on_error=0:exitcode=0:report_signal_unsafe=0:history_size=4")
  # The worker_threads tests (worker, reliability, cpu_gemm), the thread pool and the CPU queue.
  (($# > 0)) || set -- --grep 'worker_threads|cpu thread pool|cpu queue'
fi
log=${SANITIZE_LOG:-$out/sanitize-cpu.log}

echo "== building the addon with -fsanitize=$sanitize into $out/"
if ! npx cmake-js compile --out "$out" --log-level warn --CDNODEFORMERS_CUDA=OFF \
    --CDCMAKE_BUILD_TYPE=RelWithDebInfo "--CDNODEFORMERS_SANITIZE=$sanitize"; then
  check "the $mode build" 1
  finish
fi
addon=$PWD/$out/Release/nodeformers.node
preload=""
for r in "${runtimes[@]}"; do preload+="$(gcc -print-file-name="lib$r.so") "; done
# gcc 12's TSan cannot map its shadow under a randomized layout with 28+ bits of mmap entropy.
launcher=()
[[ $mode == thread ]] && setarch "$(uname -m)" -R true 2>/dev/null && launcher=(setarch "$(uname -m)" -R)
run_sanitized() { env LD_PRELOAD="$preload" "${san_env[@]}" NODEFORMERS_ADDON="$addon" "${launcher[@]}" "$@"; }

echo "== the proof that $out/ is instrumented"
imports=$(nm -D --undefined-only "$addon")
for sym in "${symbols[@]}"; do
  grep -q "$sym" <<<"$imports"
  check "$out/Release/nodeformers.node calls the sanitizer runtime (nm -D: $sym*)" $?
done
canary() { run_sanitized node -e 'require(process.env.NODEFORMERS_ADDON).__canary(process.argv[1])' "$1" 2>&1; }
quiet=$(canary none); rc=$?
[[ $rc -eq 0 && -z $quiet ]]
check "__canary('none') runs silently (exit $rc${quiet:+: ${quiet:0:300}})" $?
for c in "${canaries[@]}"; do
  kind=${c%%:*} want=${c#*:}
  report=$(canary "$kind")
  grep -qF "$want" <<<"$report" && grep -q 'native/addon/sanitizer_canary.cc' <<<"$report"
  seen=$?
  check "__canary('$kind') is reported: '$want' in native/addon/sanitizer_canary.cc" $seen
  [[ $seen -eq 0 ]] || head -40 <<<"$report"
done
[[ $failed -eq 0 ]] || { echo "sanitize-cpu: the build is not instrumented: no tests run"; finish; }

echo "== mocha $* (LD_PRELOAD=$preload${launcher[*]:+, ${launcher[*]}})"
mkdir -p "$(dirname "$log")"
# (node runs mocha itself: npm's npx crashes under TSan)
run_sanitized node node_modules/mocha/bin/mocha.js "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
p=$(grep -Eo '^ *[0-9]+ passing' "$log" | grep -Eo '[0-9]+' | tail -1)
f=$(grep -Eo '^ *[0-9]+ failing' "$log" | grep -Eo '[0-9]+' | tail -1)
s=$(grep -Eo '^ *[0-9]+ pending' "$log" | grep -Eo '[0-9]+' | tail -1)
passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
if [[ $rc -ne 0 && -z $f ]]; then check "mocha ended with its summary (exit $rc)" 1; fi
asan=$(grep -c 'ERROR: AddressSanitizer' "$log")
ubsan=$(grep -c 'runtime error:' "$log")
check "no AddressSanitizer report ($asan) and no UBSan runtime error ($ubsan)" $((asan + ubsan))
if [[ $mode == thread ]]; then
  # One TSan report: from its WARNING line to its SUMMARY line. Ours when a frame is in native/.
  ours=$(awk -v ours="$PWD/native/" '/WARNING: ThreadSanitizer/{r=""; on=1} on{r=r $0 "\n"}
    /^SUMMARY: ThreadSanitizer/{if (on && index(r, ours)) n++; on=0} END{print n+0}' "$log")
  total=$(grep -c '^SUMMARY: ThreadSanitizer' "$log")
  echo "ThreadSanitizer: $total report(s) not suppressed, $ours with a frame in native/"
  check "no ThreadSanitizer report in native/ ($ours of $total)" "$ours"
fi
echo "(log: $log)"
finish
