import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randn, tensor } from '../ts/index';
import { requireFixtures } from './helpers';
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
    const dir = requireFixtures(this, ['vit_notebook.weights.safetensors', 'vit_notebook.io.safetensors']);
    const f = await readSafetensors(path.join(dir, 'vit_notebook.weights.safetensors'));
    assert.equal(f.tensors.size, 96);
    assert.equal(f.metadata.source, 'timm 1.0.29 VisionTransformer');
    assert.deepEqual(f.tensors.get('patch_embed.proj.weight')?.shape, [96, 3, 16, 16]);
    assert.deepEqual(f.tensors.get('blocks.0.attn.qkv.weight')?.shape, [288, 96]);
    const io = await readSafetensors(path.join(dir, 'vit_notebook.io.safetensors'));
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

  it('rejects the rest of the malformed cases (issue #8): identical and partial overlaps, odd offsets, fields of the wrong kind', () => {
    const data = new Uint8Array(16);
    const bad = (header: object | string, pattern: RegExp, bytes = data) => assert.throws(() => parseSafetensors(file(header, bytes), 'f.st'), (e: Error) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /^safetensors: f\.st: /);
      assert.match(e.message, pattern);
      return true;
    });
    const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
    bad({ a: f32(0, 8), b: f32(0, 8) }, /overlaps/);                    // the same range twice
    bad({ a: f32(0, 16), b: f32(4, 8) }, /overlaps/);                   // one inside another
    bad({ a: f32(8, 16), b: f32(0, 12) }, /overlaps/);                  // listed out of order
    bad({ a: f32(0, 8), b: f32(16, 24) }, /run past the 16 data bytes/); // out of range
    bad({ a: { dtype: 'F32', shape: [2], data_offsets: [0.5, 8.5] } }, /bad data_offsets/);
    bad({ a: { dtype: 'F32', shape: [2], data_offsets: ['0', '8'] } }, /bad data_offsets/);
    bad({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8, 16] } }, /bad data_offsets/);
    bad({ a: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, /bad data_offsets/);
    bad({ a: { dtype: 'F32', shape: [2] } }, /bad data_offsets/);
    bad({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, /bad shape/);
    bad({ a: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, /bad shape/);
    bad({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, /holds 8 bytes but F32/);
    bad({ a: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, /holds 8 bytes but F16 \[2\] needs 4/);
    bad({ a: { dtype: 42, shape: [2], data_offsets: [0, 8] } }, /unknown dtype 42/);
    bad({ a: null }, /entry 'a' is not an object/);
    bad({ a: 3 }, /entry 'a' is not an object/);
    bad({ __metadata__: 'x', a: f32(0, 8) }, /__metadata__ is not an object/);
    bad('"just a string"', /not a JSON object/);
    bad('', /not valid JSON/);
    // A header that is not UTF-8 (a stray 0xff byte).
    const latin1 = new Uint8Array([...new TextEncoder().encode('{"a'), 0xff, ...new TextEncoder().encode('": 1}')]);
    const notUtf8 = new Uint8Array(8 + latin1.length);
    new DataView(notUtf8.buffer).setBigUint64(0, BigInt(latin1.length), true);
    notUtf8.set(latin1, 8);
    assert.throws(() => parseSafetensors(notUtf8), /not valid JSON/);
    // Every prefix of a good file is refused (truncated anywhere), never read past its end.
    const good = serializeSafetensors({ w: tensor([1, 2, 3, 4], [2, 2]), b: tensor([5, 6], [2]) });
    for (let n = 0; n < good.byteLength; n++) assert.throws(() => parseSafetensors(good.subarray(0, n)), /safetensors: buffer: /, `prefix ${n}`);
    assert.equal(parseSafetensors(good).tensors.size, 2);
  });

  it('a directory, and a malformed checkpoint given to the ViT loader, are clear Errors', async () => {
    await assert.rejects(readSafetensors(os.tmpdir()), /safetensors: cannot read '.*': EISDIR/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-st-'));
    const target = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(target, file({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)));
    const { loadTimmViT } = await import('../ts/index');
    await assert.rejects(loadTimmViT(target, { img_size: 16, patch_size: 8, embed_dim: 8, depth: 1, num_heads: 2 }), /run past the 8 data bytes/);
    fs.rmSync(dir, { recursive: true });
  });
});
