import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ones, randn, tensor } from '../ts/index';
import { atomicIO } from '../ts/io/atomic';
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
    assert.deepEqual({ ...back.metadata }, { format: 'pt' });
    assert.equal(Object.getPrototypeOf(back.metadata), null, 'metadata has no prototype: no inherited keys');
    for (const [name, t] of Object.entries({ a, h, b, i, u })) {
      const e = back.tensors.get(name)!;
      assert.deepEqual(e.shape, [...t.shape]);
      assert.deepEqual(Array.from(entryToTensor(e, { dtype: t.dtype }).dataSync()), Array.from(t.dataSync()), name);
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('a missing file says so', async () => {
    await assert.rejects(readSafetensors('/nonexistent/x.safetensors'), { message: /^readSafetensors: cannot read '\/nonexistent\/x.safetensors': no such file/ });
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
      assert.match(e.message, /^parseSafetensors: f\.st: /);
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
    for (let n = 0; n < good.byteLength; n++) assert.throws(() => parseSafetensors(good.subarray(0, n)), { message: /^parseSafetensors: buffer: / }, `prefix ${n}`);
    assert.equal(parseSafetensors(good).tensors.size, 2);
  });

  it('a directory, and a malformed checkpoint given to the ViT loader, are clear Errors', async () => {
    await assert.rejects(readSafetensors(os.tmpdir()), { message: /^readSafetensors: cannot read '.*': EISDIR/ });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-st-'));
    const target = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(target, file({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)));
    const { loadTimmViT } = await import('../ts/index');
    await assert.rejects(loadTimmViT(target, { img_size: 16, patch_size: 8, embed_dim: 8, depth: 1, num_heads: 2 }), /run past the 8 data bytes/);
    fs.rmSync(dir, { recursive: true });
  });

  describe('saves atomically (issue 24)', () => {
    let dir: string;
    let target: string;
    let old: Buffer;
    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-st-atomic-'));
      target = path.join(dir, 'model.safetensors');
      await saveSafetensors(target, { w: randn([64, 64], { seed: 5 }) }, { version: '1' });
      old = fs.readFileSync(target);
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const leftInDir = () => fs.readdirSync(dir).sort();

    it('a save that fails midway (disk full at the first tensor data) leaves the old file byte-identical and no temporary', async () => {
      const realOpen = atomicIO.open;
      let writes = 0;
      atomicIO.open = async (file, flags, mode) => {
        const handle = await realOpen(file, flags, mode);
        const realWrite = handle.write.bind(handle) as (...args: unknown[]) => Promise<{ bytesWritten: number }>;
        (handle as unknown as { write: unknown }).write = async (...args: unknown[]) => {
          if (++writes === 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          return realWrite(...args);
        };
        return handle;
      };
      try {
        const big = randn([256, 1024], { seed: 6 });
        await assert.rejects(saveSafetensors(target, { w: big, b: ones([4]) }), (e: NodeJS.ErrnoException) => {
          assert.match(e.message, new RegExp(`^saveSafetensors: cannot write '${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': ENOSPC`));
          assert.equal(e.code, 'ENOSPC');
          return true;
        });
        assert.equal(writes, 3, "the save failed midway: after the length and the header, at the first tensor's bytes");
      } finally {
        atomicIO.open = realOpen;
      }
      assert.deepEqual(fs.readFileSync(target), old);
      assert.deepEqual(leftInDir(), ['model.safetensors']);
    });

    it('a failed rename (the target is a directory) leaves it as it was and no temporary; a missing directory names the path', async () => {
      const asDir = path.join(dir, 'taken');
      fs.mkdirSync(asDir);
      await assert.rejects(saveSafetensors(asDir, { w: ones([2]) }), { message: /^saveSafetensors: cannot write '.*taken': / });
      assert.deepEqual(leftInDir(), ['model.safetensors', 'taken']);
      assert.deepEqual(fs.readdirSync(asDir), []);
      const missing = path.join(dir, 'no', 'such', 'x.safetensors');
      await assert.rejects(saveSafetensors(missing, { w: ones([2]) }), { code: 'ENOENT', message: /^saveSafetensors: cannot write '.*no\/such\/x.safetensors': ENOENT/ });
    });

    it('bad arguments are refused before the file is touched', async () => {
      const t = ones([2]);
      const disposed = ones([2]);
      disposed.dispose();
      await assert.rejects(saveSafetensors(target, { w: disposed }), { name: 'TypeError', message: /^saveSafetensors: tensors\['w'\] has been disposed/ });
      await assert.rejects(saveSafetensors(target, { w: Object.create(t) }), { name: 'TypeError', message: /^saveSafetensors: expected tensors\['w'\] to be a Tensor/ });
      await assert.rejects(saveSafetensors('', { w: t }), { name: 'TypeError', message: /^saveSafetensors: expected file to be a path/ });
      assert.deepEqual(fs.readFileSync(target), old);
      assert.deepEqual(leftInDir(), ['model.safetensors']);
    });

    it('a normal save replaces the file, round-trips, and keeps its permission bits', async () => {
      fs.chmodSync(target, 0o640);
      const w = randn([3, 4], { seed: 7 });
      await saveSafetensors(target, new Map([['w', w]]));
      const back = await readSafetensors(target);
      assert.deepEqual(Array.from(entryToTensor(back.tensors.get('w')!).dataSync()), Array.from(w.dataSync()));
      assert.equal(fs.statSync(target).mode & 0o777, 0o640);
      assert.deepEqual(leftInDir(), ['model.safetensors']);
    });
  });

  describe('names and metadata (issue 24)', () => {
    it("'__proto__', 'constructor', 'toString' and 'hasOwnProperty' are ordinary tensor names, saved and read back", async () => {
      const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x'];
      const tensors = new Map(names.map((n, i) => [n, tensor([i, i + 0.5])]));
      const back = parseSafetensors(serializeSafetensors(tensors, { note: 'kept' }));
      assert.deepEqual([...back.tensors.keys()].sort(), [...names].sort());
      names.forEach((n, i) => assert.deepEqual(Array.from(entryValues(back.tensors.get(n)!)), [i, i + 0.5], n));
      assert.deepEqual({ ...back.metadata }, { note: 'kept' });
      // The same names given as an object's own keys.
      const record = Object.fromEntries(names.map((n, i) => [n, tensor([i])]));
      assert.deepEqual([...parseSafetensors(serializeSafetensors(record)).tensors.keys()].sort(), [...names].sort());
      // Metadata keys too: '__proto__' is a key like another, no inherited key shows.
      const meta = parseSafetensors(serializeSafetensors({ x: tensor([1]) }, Object.fromEntries([['__proto__', 'p'], ['a', 'b']]))).metadata;
      assert.deepEqual(Object.entries(meta).sort(), [['__proto__', 'p'], ['a', 'b']]);
      assert.equal('toString' in meta, false);
    });

    it("refuses '__metadata__' as a tensor name and metadata that does not map strings to strings, on save", () => {
      const x = tensor([1]);
      assert.throws(() => serializeSafetensors(new Map([['__metadata__', x], ['x', x]])),
        { name: 'TypeError', message: /^serializeSafetensors: expected a tensor name to be a name other than '__metadata__'/ });
      assert.throws(() => serializeSafetensors({ __metadata__: x }), { message: /^serializeSafetensors: expected a tensor name to be a name other than '__metadata__'/ });
      assert.throws(() => serializeSafetensors({ x }, { n: 3 } as unknown as Record<string, string>),
        { name: 'TypeError', message: /^serializeSafetensors: expected metadata\['n'\] to be a string \(the format maps strings to strings\), got 3/ });
      assert.throws(() => serializeSafetensors({ x }, { o: { deep: 'x' } } as unknown as Record<string, string>), { message: /^serializeSafetensors: expected metadata\['o'\] to be a string/ });
      assert.throws(() => serializeSafetensors({ x }, null as unknown as Record<string, string>), { message: /^serializeSafetensors: expected metadata to be an object mapping strings to strings/ });
      assert.throws(() => serializeSafetensors(new Map([[5 as unknown as string, x]])), { message: /^serializeSafetensors: expected a tensor name to be a string, got 5/ });
      assert.throws(() => serializeSafetensors({ x: { shape: [1] } as unknown as never }), { message: /^serializeSafetensors: expected tensors\['x'\] to be a Tensor/ });
    });

    it('refuses, on load, metadata values that are not strings and dtypes that are Object.prototype names, naming the function and the file', async () => {
      const data = new Uint8Array(8);
      const w = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
      for (const [header, pattern] of [
        [{ __metadata__: { n: 3 }, w }, /^parseSafetensors: f\.st: __metadata__ must map strings to strings, but 'n' is 3/],
        [{ __metadata__: ['a'], w }, /^parseSafetensors: f\.st: __metadata__ is not an object/],
        [{ __metadata__: null, w }, /^parseSafetensors: f\.st: __metadata__ is not an object/],
        [{ w: { ...w, dtype: 'toString' } }, /^parseSafetensors: f\.st: 'w' has unknown dtype "toString"/],
        [{ w: { ...w, dtype: 'constructor' } }, /^parseSafetensors: f\.st: 'w' has unknown dtype "constructor"/],
        [{ w: { ...w, dtype: '__proto__' } }, /^parseSafetensors: f\.st: 'w' has unknown dtype "__proto__"/],
        [{ w: [] }, /^parseSafetensors: f\.st: entry 'w' is not an object/],
      ] as const) {
        assert.throws(() => parseSafetensors(file(header, data), 'f.st'), { message: pattern as RegExp });
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-st-'));
      const bad = path.join(dir, 'meta.safetensors');
      fs.writeFileSync(bad, file({ __metadata__: { n: 3 }, w }, data));
      await assert.rejects(readSafetensors(bad), { message: new RegExp(`^readSafetensors: '${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': __metadata__ must map strings to strings`) });
      fs.rmSync(dir, { recursive: true });
      // A __proto__ tensor in a file written by another tool reads as a tensor, and the header's own keys only.
      const proto = parseSafetensors(file('{"__proto__": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', data));
      assert.deepEqual([...proto.tensors.keys()], ['__proto__']);
      // entryValues and entryToTensor take only entries of a known dtype.
      assert.throws(() => entryValues({ dtype: 'toString' as never, shape: [1], bytes: new Uint8Array(4) }), { message: /^entryValues: expected entry.dtype to be one of F64/ });
      assert.throws(() => entryToTensor({ dtype: 'I32', shape: [1], bytes: new Uint8Array(3) }), { message: /^entryToTensor: expected entry.bytes to be a Uint8Array of whole I32 values/ });
    });

    it('entryToTensor refuses values its dtype cannot hold, naming itself', () => {
      const i64 = new Uint8Array(8);
      new DataView(i64.buffer).setBigInt64(0, 2n ** 40n, true);
      assert.throws(() => entryToTensor({ dtype: 'I64', shape: [1], bytes: i64 }, { dtype: 'int32' }),
        { name: 'RangeError', message: /^entryToTensor: data\[0\] = 1099511627776 is not representable as int32/ });
    });
  });
});
