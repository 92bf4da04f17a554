#!/usr/bin/env bash
# Issue 27's "Done when", end to end: pack this checkout (dist/ from `npm run build:ts`, the
# prebuilt addon from prebuilds/), make a fresh app in a temp dir, `npm install` the tarball
# and sharp from the registry with a PATH that holds no cmake, compiler, make or nvcc, then
# run a six-line script (loadPretrained, an image file, classify) and `npx nodeformers
# classify`, checking that each prints top-5 labels. Ends with `fresh-app-check: ok`.
#
#   tools/fresh-app-check.sh            # needs the npm registry (sharp and the optional deps)
#   KEEP=1 tools/fresh-app-check.sh     # keeps the temp dir and says where
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nf-fresh-app.XXXXXX")
APP="$WORK/app"
BIN="$WORK/bin"
NODE=$(command -v node)
NPM_CLI=$(readlink -f "$(command -v npm)")
NPX_CLI="$(dirname "$NPM_CLI")/npx-cli.js"
MAX_PACKED_KB=${MAX_PACKED_KB:-1500}   # the packed tarball (the prebuilt addon is ~800 kB of it)

say() { echo "fresh-app-check: $*"; }
fail() { echo "fresh-app-check: FAILED: $*" >&2; exit 1; }
cleanup() { if [ "${KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

# (a) The package as npm would publish it.
cd "$ROOT"
prebuilt="prebuilds/$("$NODE" -p 'process.platform + "-" + process.arch')/nodeformers.node"
[ -f "$prebuilt" ] || fail "no $prebuilt (tools/build-prebuilt.sh makes it)"
say "npm run build:ts"
npm run --silent build:ts
tarball="$WORK/$(npm pack --silent --ignore-scripts --pack-destination "$WORK" | tail -n 1)"   # prepare would build dist/ again
listing=$(tar tzf "$tarball")
count=$(wc -l <<<"$listing")
packed_kb=$(( $(stat -c %s "$tarball") / 1024 ))
say "packed $(basename "$tarball"): $count files, $packed_kb kB"
for want in package/dist/index.js package/dist/index.mjs package/dist/cli.js package/bin/nodeformers.js "package/$prebuilt" package/native/install.js; do
  grep -qx "$want" <<<"$listing" || fail "the tarball lacks $want"
done
needless=$(grep -E '\.map$|^package/(ts|test|tools|scripts|build|bench/(results|baselines)|docs|examples)/' <<<"$listing" || true)
[ -z "$needless" ] || fail "the tarball ships files a user does not need:
$(head -n 5 <<<"$needless")"
[ "$packed_kb" -le "$MAX_PACKED_KB" ] || fail "the tarball is $packed_kb kB, over $MAX_PACKED_KB kB"

# (c) A PATH of node, npm, npx and sh alone: no build tools, whatever this machine has.
mkdir -p "$BIN" "$APP"
ln -s "$NODE" "$BIN/node"
ln -s "$NPM_CLI" "$BIN/npm"
ln -s "$NPX_CLI" "$BIN/npx"
ln -s "$(command -v sh)" "$BIN/sh"
run() { (cd "$APP" && env -i HOME="$HOME" PATH="$BIN" TMPDIR="${TMPDIR:-/tmp}" npm_config_update_notifier=false \
  npm_config_fund=false npm_config_audit=false "$@"); }
for tool in cmake cc gcc g++ c++ clang clang++ make nvcc; do
  if run sh -c "command -v $tool" >/dev/null 2>&1; then fail "$tool is on the app's PATH"; fi
done
say "the app's PATH ($BIN) holds node, npm, npx, sh; no cmake, cc, gcc, g++, c++, clang, make or nvcc"

# (b) A fresh app, then the install.
echo '{ "name": "fresh-app", "version": "1.0.0", "private": true, "type": "module" }' > "$APP/package.json"
say "npm install $(basename "$tarball") sharp (in $APP)"
if ! run npm install --foreground-scripts --no-progress "$tarball" sharp > "$WORK/install.log" 2>&1; then
  tail -n 30 "$WORK/install.log" >&2
  fail "npm install failed"
fi
grep -E '^nodeformers: ' "$WORK/install.log" | sed 's/^/  install: /' || true
grep -qE '^nodeformers: .*using the prebuilt CPU addon' "$WORK/install.log" || fail "the install script did not take the prebuilt addon"
[ ! -e "$APP/node_modules/nodeformers/build" ] || fail "the install built the addon from source"
say "installed nodeformers $(run node -p 'require("nodeformers/package.json").version') and sharp $(run node -p 'require("sharp/package.json").version')"

# (d) An image, a timm directory (random weights of deit_tiny's shape, 2 blocks, 10 named
# classes) and the six-line script a user writes.
run node --input-type=module -e "
import * as fs from 'node:fs';
import sharp from 'sharp';
import { buildViT, saveSafetensors } from 'nodeformers';
const w = 160, h = 120, px = Buffer.alloc(w * h * 3);
for (let i = 0; i < w * h; i++) px.set([(i % w) * 255 / w, Math.floor(i / w) * 255 / h, (i * 7) % 256], i * 3);
await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg().toFile('photo.jpg');
const labels = ['tench', 'goldfish', 'white shark', 'tiger shark', 'hammerhead', 'electric ray', 'stingray', 'cock', 'hen', 'ostrich'];
fs.mkdirSync('tiny-vit', { recursive: true });
fs.writeFileSync('tiny-vit/config.json', JSON.stringify({ architecture: 'deit_tiny_patch16_224', num_classes: 10, label_names: labels,
  model_args: { depth: 2 }, pretrained_cfg: { input_size: [3, 224, 224], interpolation: 'bicubic', crop_pct: 0.875,
  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } }));
const model = buildViT({ embed_dim: 192, num_heads: 3, depth: 2, num_classes: 10 }, { seed: 27 });
await saveSafetensors('tiny-vit/model.safetensors', model.parameters());
"
LABELS='tench|goldfish|white shark|tiger shark|hammerhead|electric ray|stingray|cock|hen|ostrich'
cat > "$APP/classify.mjs" <<'EOF'
import { loadPretrained, classify } from 'nodeformers';
const image = process.argv[2] ?? 'photo.jpg';
const { model } = await loadPretrained('tiny-vit');
const [top] = await classify(model, [image], { topk: 5 });
for (const { label, score } of top) console.log(`${label}\t${score.toFixed(4)}`);
model.dispose();
EOF
say "node classify.mjs (6 lines: loadPretrained('tiny-vit'), photo.jpg, classify):"
out=$(run node classify.mjs)
sed 's/^/  /' <<<"$out"
[ "$(wc -l <<<"$out")" -eq 5 ] || fail "classify.mjs printed $(wc -l <<<"$out") lines, not 5"
grep -qvE "^($LABELS)	0\.[0-9]{4}$" <<<"$out" && fail "classify.mjs printed a line that is not 'label<TAB>score'"
[ "$(cut -f1 <<<"$out" | sort -u | wc -l)" -eq 5 ] || fail "classify.mjs printed a label twice"
sort -c -r -t$'\t' -k2,2 <<<"$out" 2>/dev/null || fail "classify.mjs's scores are not best first"

# (e) The CLI of the installed package, on the directory and on a name (random weights).
say "npx nodeformers classify photo.jpg --model tiny-vit:"
out=$(run npx --no-install nodeformers classify photo.jpg --model tiny-vit 2>"$WORK/cli.err") || { cat "$WORK/cli.err" >&2; fail "npx nodeformers classify failed"; }
sed 's/^/  /' <<<"$out"
[ -s "$WORK/cli.err" ] && fail "npx nodeformers classify wrote on stderr: $(cat "$WORK/cli.err")"
[ "$(head -n 1 <<<"$out")" = photo.jpg ] || fail "the CLI's first line is not the image's path"
[ "$(tail -n +2 <<<"$out" | grep -cE "^  ($LABELS) +0\.[0-9]{4}$")" -eq 5 ] || fail "the CLI did not print five 'label  score' lines"
diff <(tail -n +2 <<<"$out" | sed -E 's/^  (.*[^ ]) +(0\.[0-9]{4})$/\1\t\2/') <(run node classify.mjs) >/dev/null ||
  fail "the CLI and classify.mjs disagree"
say "npx nodeformers classify photo.jpg --model deit_tiny_patch16_224 --topk 5 --json:"
json=$(run npx --no-install nodeformers classify photo.jpg --model deit_tiny_patch16_224 --topk 5 --json 2>"$WORK/cli.err")
sed 's/^/  stderr: /' "$WORK/cli.err"
grep -q "has random weights" "$WORK/cli.err" || fail "no warning that the weights are random"
run node -e "const [r] = JSON.parse(process.argv[1]); if (r.image !== 'photo.jpg' || r.top.length !== 5) process.exit(1);
console.log('  ' + r.top.map((c) => c.label + ' ' + c.score.toFixed(4)).join(', '));" "$json" || fail "the --json answer is not five classes of photo.jpg"
set +e
run npx --no-install nodeformers classify missing.jpg --model tiny-vit >/dev/null 2>"$WORK/cli.err"
status=$?
set -e
[ "$status" -eq 2 ] || fail "a missing image exited $status, not 2"
say "a missing image: exit 2, $(head -n 1 "$WORK/cli.err")"

say ok
