// npm run check:cuda: compiles every native/cuda/*.cu for sm_90a with nvcc (no GPU needed)
// and fails on any error. Where no nvcc exists it says so and succeeds.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function findNvcc() {
  for (const candidate of ['nvcc', '/usr/local/cuda/bin/nvcc']) {
    const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return null;
}

const nvcc = findNvcc();
if (!nvcc) {
  console.log('check:cuda: no nvcc found; nothing compiled');
  process.exit(0);
}
const root = path.join(__dirname, '..');
const dir = path.join(root, 'native', 'cuda');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cu')).sort();
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-check-cuda-'));
let failed = 0;
for (const file of files) {
  const args = ['-std=c++17', '-O3', '-gencode=arch=compute_90a,code=sm_90a', '-lineinfo', '-Xptxas=--warn-on-spills',
    '--expt-relaxed-constexpr', '-Xptxas', '-v', '-c', path.join(dir, file), '-o', path.join(out, file + '.o')];
  const r = spawnSync(nvcc, args, { encoding: 'utf8' });
  const log = (r.stdout || '') + (r.stderr || '');
  const regs = [...log.matchAll(/Used (\d+) registers/g)].map((m) => Number(m[1]));
  const spills = [...log.matchAll(/(\d+) bytes spill stores/g)].reduce((s, m) => s + Number(m[1]), 0);
  if (r.status !== 0) {
    failed++;
    console.log(`FAIL ${file}\n${log}`);
  } else {
    console.log(`ok   ${file}: ${regs.length} kernels, at most ${regs.length ? Math.max(...regs) : 0} registers, ${spills} bytes spilled`);
  }
}
fs.rmSync(out, { recursive: true, force: true });
console.log(`check:cuda: ${files.length - failed} of ${files.length} files compiled for sm_90a (${execFileSync(nvcc, ['--version'], { encoding: 'utf8' }).trim().split('\n').pop()})`);
process.exit(failed ? 1 : 0);
