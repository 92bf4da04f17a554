// Philox4x32-10 written plainly in TypeScript (exact 32x32 -> 64-bit products in doubles from
// 16-bit halves), and the stream and dropout mask native/core/philox.h and random_ops.h define:
// what the tests hold both backends' words and masks against.

/** The high and low 32 bits of a * b (a, b uint32). */
function mulhilo(a: number, b: number): [number, number] {
  const ah = a >>> 16, al = a & 0xffff, bh = b >>> 16, bl = b & 0xffff;
  const ll = al * bl, m1 = ah * bl, m2 = al * bh;
  const carry = Math.floor((Math.floor(ll / 65536) + (m1 % 65536) + (m2 % 65536)) / 65536);
  const hi = (ah * bh + Math.floor(m1 / 65536) + Math.floor(m2 / 65536) + carry) >>> 0;
  return [hi, Math.imul(a, b) >>> 0];
}

/** One Philox4x32-10 block: counter [4] and key [2] of uint32. */
export function philoxRef(counter: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + 0x9e3779b9) >>> 0;
      k1 = (k1 + 0xbb67ae85) >>> 0;
    }
    const [hi0, lo0] = mulhilo(0xd2511f53, c0);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

const TWO32 = 2 ** 32;

/** Words [offset, offset + count) of seed's stream: word s is word s % 4 of block s / 4. */
export function streamRef(seed: number, offset: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  const key = [seed % TWO32, Math.floor(seed / TWO32)];
  let block = -1;
  let words: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = offset + i;
    if (Math.floor(s / 4) !== block) {
      block = Math.floor(s / 4);
      words = philoxRef([block % TWO32, Math.floor(block / TWO32), 0, 0], key);
    }
    out[i] = words[s % 4];
  }
  return out;
}

/** Which of n elements dropout keeps (1) with drop probability p < 1, elements of a group sharing one word. */
export function keepMaskRef(seed: number, offset: number, n: number, p: number, group = 1): Uint8Array {
  const words = streamRef(seed, offset, Math.ceil(n / group));
  const threshold = Math.min(Math.floor(p * TWO32), TWO32 - 1);
  return Uint8Array.from({ length: n }, (_, i) => (words[Math.floor(i / group)] >= threshold ? 1 : 0));
}
