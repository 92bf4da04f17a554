// The CPU against onnxruntime-node (issue 28): ts/bench/suite/ort.ts's cases, printed as the
// table BENCHMARKS.md holds. Steps: cd bench/ort && npm install --ignore-scripts; then
// node --import tsx bench/ort/vit.ts [rounds]. A model's model.onnx is exported when absent
// (python3 with torch and safetensors, or NODEFORMERS_PYTHON); the notebook ViT is the fixture's.
import * as os from 'node:os';
import * as path from 'node:path';
import { benchOnnxruntime, ortTable } from '../../ts/bench/suite/ort';

async function main(): Promise<void> {
  const rounds = process.argv[2] ? Number(process.argv[2]) : undefined;
  const r = await benchOnnxruntime({ root: path.join(__dirname, '..', '..'), rounds, log: (l) => console.log(l) });
  console.log(`\n${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log(ortTable(r));
  for (const s of r.skipped) console.log(`skipped: ${s}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
