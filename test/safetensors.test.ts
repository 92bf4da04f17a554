import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randn, tensor } from '../ts/index';
import { FIXTURES } from './helpers';
import { entryToTensor, entryValues, parseSafetensors, readSafetensors, saveSafetensors, serializeSafetensors } from '../ts/io/safetensors';


function file(header: object | string, data = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

describe('safetensors', () => {
  it('reads the timm fixture: 96 parameters with timm names and shapes', async function () {
    const weights = path.join(FIXTURES, 'vit_notebook.weights.safetensors');
    if (!fs.existsSync(weights)) this.skip();
    const f = await readSafetensors(weights);
    assert.equal(f.tensors.size, 96);
    assert.equal(f.metadata.source, 'timm 1.0.29 VisionTransformer');
    assert.deepEqual(f.tensors.get('patch_embed.proj.weight')?.shape, [96, 3, 16, 16]);
    assert.deepEqual(f.tensors.get('blocks.0.attn.qkv.weight')?.shape, [288, 96]);
    const io = await readSafetensors(path.join(FIXTURES, 'vit_notebook.io.safetensors'));
    const f64 = entryValues(io.tensors.get('logits_f64')!);
    const f32 = entryValues(io.tensors.get('logits')!);
    assert.equal(f64.length, 2000);
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(f64[i] - f32[i]) <= 1e-5 * Math.max(1, Math.abs(f64[i])));
  });

  it('round-trips every dtype through save and read', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-st-'));
    const a = randn([3, 5], { seed: 1 });
    const h = randn([7], { seed: 2, dtype: 'float16' });
    const b = randn([2, 2], { seed: 3, dtype: 'bfloat16' });
    const i = tensor([1, -2, 3], [3], { dtype: 'int32' });
    const u = tensor([0, 255], [2], { dtype: 'uint8' });
    const target = path.join(dir, 'x.safetensors');
    await saveSafetensors(target, { a, h, b, i, u }, { format: 'pt' });
    const back = await readSafetensors(target);
    assert.deepEqual(back.metadata, { format: 'pt' });
    for (const [name, t] of Object.entries({ a, h, b, i, u })) {
      const e = back.tensors.get(name)!;
      assert.deepEqual(e.shape, [...t.shape]);
      assert.deepEqual(Array.from(entryToTensor(e, { dtype: t.dtype }).dataSync()), Array.from(t.dataSync()), name);
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('a missing file says so', async () => {
    await assert.rejects(readSafetensors('/nonexistent/x.safetensors'), /cannot read '\/nonexistent\/x.safetensors': no such file/);
  });

  it('rejects malformed files with a clear Error and no out-of-bounds read', () => {
    const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const data = new Uint8Array(8);
    assert.doesNotThrow(() => parseSafetensors(file(ok, data)));
    assert.throws(() => parseSafetensors(new Uint8Array(5)), /shorter than the 8-byte header length/);
    assert.throws(() => parseSafetensors(file(ok, data, 1n << 40n)), /header length .* runs past the end/);
    assert.throws(() => parseSafetensors(file('{"w": ', data)), /header is not valid JSON/);
    assert.throws(() => parseSafetensors(file('[1,2]', data)), /header is not a JSON object/);
    assert.throws(() => parseSafetensors(file(ok, new Uint8Array(4))), /run past the 4 data bytes \(truncated file\?\)/);
    assert.throws(() => parseSafetensors(file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data)), /holds 8 bytes but F32 \[3\] needs 12/);
    assert.throws(() => parseSafetensors(file({ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, data)), /unknown dtype "Q4"/);
    assert.throws(() => parseSafetensors(file({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data)), /bad shape/);
    assert.throws(() => parseSafetensors(file({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data)), /bad data_offsets/);
    assert.throws(() => parseSafetensors(file({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
    }, data)), /overlaps/);
    assert.ok(serializeSafetensors({}).byteLength >= 8);
  });
});
