// Float64 references written plainly, independent of the native code they check.

/** Rounds half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function floorLog2(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return e;
}

/** The value a float32 becomes in a float format with `mantissa` bits, exponent range [minExp, maxExp]. */
function roundToFormat(x: number, mantissa: number, minExp: number, maxFinite: number): number {
  const v = Math.fround(x);
  if (!Number.isFinite(v)) return v;
  if (v === 0) return v;
  const a = Math.abs(v);
  const e = Math.max(floorLog2(a), minExp);
  const quantum = 2 ** (e - mantissa);
  const r = roundHalfEven(a / quantum) * quantum;
  if (r > maxFinite) return Math.sign(v) * Infinity;
  return Math.sign(v) * r;
}

/** float32 → float16 with round to nearest even (overflow to Inf, NaN kept). */
export function roundToFloat16(x: number): number {
  return roundToFormat(x, 10, -14, 65504);
}

/** float32 → bfloat16 with round to nearest even. */
export function roundToBFloat16(x: number): number {
  return roundToFormat(x, 7, -126, 3.3895313892515355e38);
}

export function roundTo(dtype: string, x: number): number {
  if (dtype === 'float16') return roundToFloat16(x);
  if (dtype === 'bfloat16') return roundToBFloat16(x);
  if (dtype === 'float32') return Math.fround(x);
  return x;
}
