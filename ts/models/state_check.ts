// Why a checkpoint does not fit a ViT, said so a person can act on it: counts, the first few
// names of each kind, and hints (a common key prefix, a transposed shape, a configuration
// value that differs from what the checkpoint's shapes say).
import type { ResolvedViTConfig } from './vit';

/** How many names of each kind a message lists. */
const SHOWN = 5;

type Shapes = ReadonlyMap<string, readonly number[]>;

function firstFew(names: readonly string[]): string {
  return names.slice(0, SHOWN).join(', ') + (names.length > SHOWN ? `, … (${names.length - SHOWN} more)` : '');
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** The prefix that, stripped from most unexpected keys, names a model parameter (timm's 'module.' from DataParallel, 'model.', ...). */
function commonPrefix(unexpected: readonly string[], own: Shapes): { prefix: string; count: number } | null {
  const counts = new Map<string, number>();
  for (const key of unexpected) {
    for (let i = key.indexOf('.'); i > 0; i = key.indexOf('.', i + 1)) {
      if (own.has(key.slice(i + 1))) {
        const p = key.slice(0, i + 1);
        counts.set(p, (counts.get(p) ?? 0) + 1);
        break;
      }
    }
  }
  let best: { prefix: string; count: number } | null = null;
  for (const [prefix, count] of counts) if (!best || count > best.count) best = { prefix, count };
  return best;
}

/** What the checkpoint's shapes say about the ViT keys they fix. */
function checkpointConfig(ckpt: Shapes): Partial<Record<keyof ResolvedViTConfig, number | boolean>> {
  const out: Partial<Record<keyof ResolvedViTConfig, number | boolean>> = {};
  const proj = ckpt.get('patch_embed.proj.weight');
  if (proj?.length === 4) Object.assign(out, { embed_dim: proj[0], in_chans: proj[1], patch_size: proj[2] });
  const blocks = new Set([...ckpt.keys()].map((k) => /^blocks\.(\d+)\./.exec(k)?.[1]).filter((i) => i !== undefined));
  if (blocks.size) out.depth = blocks.size;
  const head = ckpt.get('head.weight');
  if (head?.length === 2) out.num_classes = head[0];
  const fc1 = ckpt.get('blocks.0.mlp.fc1.weight');
  if (fc1?.length === 2 && fc1[1] > 0) out.mlp_ratio = fc1[0] / fc1[1];
  if (ckpt.has('blocks.0.attn.qkv.weight')) out.qkv_bias = ckpt.has('blocks.0.attn.qkv.bias');
  out.class_token = ckpt.has('cls_token');
  out.distilled = ckpt.has('dist_token');
  const pos = ckpt.get('pos_embed');
  if (pos?.length === 3 && typeof out.patch_size === 'number') {
    const side = Math.sqrt(pos[1] - (out.class_token ? 1 : 0) - (out.distilled ? 1 : 0));
    if (Number.isInteger(side)) out.img_size = side * out.patch_size;
  }
  return out;
}

/**
 * null when `ckpt` (name -> shape) fits the model's parameters `own` exactly; else the
 * message of an Error naming `fn` that says what differs and what to try.
 */
export function describeMismatch(fn: string, own: Shapes, ckpt: Shapes, config?: ResolvedViTConfig): string | null {
  const missing = [...own.keys()].filter((n) => !ckpt.has(n));
  const unexpected = [...ckpt.keys()].filter((n) => !own.has(n));
  const misShaped = [...own.keys()].filter((n) => ckpt.has(n) && !sameShape(own.get(n)!, ckpt.get(n)!));
  if (!missing.length && !unexpected.length && !misShaped.length) return null;
  const counts = [[missing, 'missing'], [unexpected, 'unexpected'], [misShaped, 'of the wrong shape']]
    .filter(([list]) => list.length).map(([list, what]) => `${list.length} ${what}`);
  const lines = [`${fn}: the checkpoint (${ckpt.size} tensors) does not fit the model (${own.size} parameters): ${counts.join(', ')}`];
  if (missing.length) lines.push(`missing (${missing.length}): ${firstFew(missing)}`);
  if (unexpected.length) lines.push(`unexpected (${unexpected.length}): ${firstFew(unexpected)}`);
  if (misShaped.length) {
    const shown = misShaped.slice(0, SHOWN).map((n) => `${n} model ${fmt(own.get(n)!)} checkpoint ${fmt(ckpt.get(n)!)}`);
    lines.push(`wrong shape (${misShaped.length}): ${shown.join('; ')}${misShaped.length > SHOWN ? `; … (${misShaped.length - SHOWN} more)` : ''}`);
  }
  const hints: string[] = [];
  const prefix = commonPrefix(unexpected, own);
  if (prefix && prefix.count >= Math.max(1, unexpected.length / 2)) {
    hints.push(`${prefix.count} of the unexpected keys start with '${prefix.prefix}' and name parameters without it: strip the prefix (a DataParallel or wrapper save)`);
  }
  const transposed = misShaped.filter((n) => { const a = own.get(n)!, b = ckpt.get(n)!; return a.length === 2 && b.length === 2 && a[0] === b[1] && a[1] === b[0]; });
  if (transposed.length) {
    hints.push(`${firstFew(transposed)}: the checkpoint holds the transpose (a Linear weight is [out, in] in timm and PyTorch; transpose it, e.g. from a JAX or TF export)`);
  }
  if (config) {
    for (const [key, value] of Object.entries(checkpointConfig(ckpt))) {
      const mine = config[key as keyof ResolvedViTConfig];
      if (typeof value === 'number' ? typeof mine === 'number' && Math.abs(mine - value) > 1e-9 : mine !== value) {
        hints.push(`${key} ${String(mine)} but the checkpoint has ${String(value)}`);
      }
    }
  }
  if (hints.length) lines.push(`hints: ${hints.join('; ')}`);
  return lines.join('\n  ');
}
