// The Vision Transformer, built from plain configuration data with timm's keyword names,
// and the loader of timm checkpoints (safetensors, timm's own parameter names and layouts).
import { checkDevice, Device, DeviceLike, FloatDType } from '../dtype';
import { invalidParameterError } from '../errors';
import { entryToTensor, readSafetensors } from '../io/safetensors';
import { AttentionConfig, EncoderBlock, InitOptions, LayerNorm, Linear, PatchEmbed } from '../nn/layers';
import { Module, ModuleList } from '../nn/module';
import { add, concat, dropout, mean, mul, slice } from '../ops';
import type { ActivationSpec } from '../ops';
import { randn, Tensor, tidy, zeros } from '../tensor';
import { isGradEnabled } from '../autograd/graph';
import { CapturedForward } from '../graph';
import type { PreprocessConfig } from '../image/preprocess';
import { checkModelInput } from './input_checks';
import { describeMismatch } from './state_check';

/** timm VisionTransformer keywords, plus this library's attention/activation/norm_eps. */
export interface ViTConfig {
  img_size?: number;
  patch_size?: number;
  in_chans?: number;
  num_classes?: number;
  embed_dim?: number;
  depth?: number;
  num_heads?: number;
  mlp_ratio?: number;
  qkv_bias?: boolean;
  class_token?: boolean;
  global_pool?: 'token' | 'avg';
  pre_norm?: boolean;
  init_values?: number | null;
  attention?: AttentionConfig;
  activation?: ActivationSpec;
  norm_eps?: number;
  /** DeiT's distillation token (timm's VisionTransformerDistilled): a dist_token after the class token and a second head, head_dist, averaged with head at inference. */
  distilled?: boolean;
  /**
   * Dropout while training (module.train()), timm's names and places, each 0 by default:
   * drop_rate before the head (timm's head_drop), pos_drop_rate after the position embedding,
   * proj_drop_rate after each attention projection and in each MLP (after the activation and
   * after fc2), attn_drop_rate on the attention probabilities (only mechanisms that hold them:
   * 'vanilla'; the others refuse it in training), drop_path_rate the stochastic depth of the
   * last block, linearly from 0 at the first (timm's linspace(0, drop_path_rate, depth)).
   */
  drop_rate?: number;
  pos_drop_rate?: number;
  proj_drop_rate?: number;
  attn_drop_rate?: number;
  drop_path_rate?: number;
}

/** The dropout rates of a ViTConfig. */
const DROP_RATES = ['drop_rate', 'pos_drop_rate', 'proj_drop_rate', 'attn_drop_rate', 'drop_path_rate'] as const;

const DEFAULTS: Required<Omit<ViTConfig, 'attention' | 'init_values'>> & { init_values: number | null; attention: AttentionConfig } = {
  img_size: 224, patch_size: 16, in_chans: 3, num_classes: 1000, embed_dim: 768, depth: 12, num_heads: 12, mlp_ratio: 4,
  qkv_bias: true, class_token: true, global_pool: 'token', pre_norm: false, init_values: null, attention: { mechanism: 'memory_efficient' },
  activation: 'gelu', norm_eps: 1e-6, distilled: false, drop_rate: 0, pos_drop_rate: 0, proj_drop_rate: 0, attn_drop_rate: 0, drop_path_rate: 0,
};

export type ResolvedViTConfig = typeof DEFAULTS;

export class VisionTransformer extends Module {
  readonly config: ResolvedViTConfig;
  readonly patch_embed: PatchEmbed;
  readonly blocks: EncoderBlock[];
  readonly norm: LayerNorm;
  readonly head: Linear | null;
  readonly headDist: Linear | null;
  readonly numTokens: number;
  /** The leading tokens before the patches: the class token and, distilled, the distillation token. */
  readonly prefixTokens: number;
  /** The eval preprocessing the weights expect (set by createModel and loadPretrained), or null. */
  preprocess: PreprocessConfig | null = null;
  /** The class names, index by index (set by loadPretrained where the directory has them), or null. */
  labels: string[] | null = null;
  #disposed = false;

  constructor(config: ViTConfig = {}, o: InitOptions = {}) {
    super();
    o = { ...o, draws: o.draws ?? { next: 0 } }; // its weights: a function of o.seed alone
    const c = { ...DEFAULTS, ...config } as ResolvedViTConfig;
    if (c.img_size % c.patch_size !== 0) throw new RangeError(`VisionTransformer: img_size ${c.img_size} is not a multiple of patch_size ${c.patch_size}`);
    if (c.pre_norm) throw new RangeError('VisionTransformer: pre_norm (a norm before the blocks) is not supported');
    if (c.distilled && (!c.class_token || c.global_pool !== 'token')) {
      throw new RangeError("VisionTransformer: distilled needs class_token true and global_pool 'token' (timm's DeiT head layout)");
    }
    for (const key of DROP_RATES) {
      const rate = c[key];
      if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw invalidParameterError('VisionTransformer', `config.${key}`, 'a probability in [0, 1]', rate);
    }
    this.config = c;
    const E = c.embed_dim;
    const grid = c.img_size / c.patch_size;
    this.prefixTokens = (c.class_token ? 1 : 0) + (c.distilled ? 1 : 0);
    this.numTokens = grid * grid + this.prefixTokens;
    this.patch_embed = this.child('patch_embed', new PatchEmbed(c.patch_size, c.in_chans, E, o));
    if (c.class_token) this.param('cls_token', scaled([1, 1, E], 1e-6, o));
    if (c.distilled) this.param('dist_token', scaled([1, 1, E], 2e-6, o));
    this.param('pos_embed', scaled([1, this.numTokens, E], 0.02, o));
    const blocks = this.child('blocks', new ModuleList<EncoderBlock>());
    for (let i = 0; i < c.depth; i++) {
      blocks.push(new EncoderBlock(E, c.num_heads, {
        ...o, mlpRatio: c.mlp_ratio, qkvBias: c.qkv_bias, activation: c.activation, normEps: c.norm_eps,
        layerScale: c.init_values, attention: c.attention, attnDrop: c.attn_drop_rate, projDrop: c.proj_drop_rate,
        dropPath: c.depth > 1 ? (c.drop_path_rate * i) / (c.depth - 1) : 0,
        geometry: { tokens: this.numTokens, grid: { height: grid, width: grid, prefixTokens: this.prefixTokens } },
      }));
    }
    this.blocks = blocks.items;
    this.norm = this.child('norm', new LayerNorm(E, c.norm_eps, o));
    this.head = c.num_classes > 0 ? this.child('head', new Linear(E, c.num_classes, o)) : null;
    this.headDist = c.distilled && c.num_classes > 0 ? this.child('head_dist', new Linear(E, c.num_classes, o)) : null;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Frees every parameter; a later forward throws "the model has been disposed". */
  override dispose(): void {
    this.#disposed = true;
    super.dispose();
  }

  /** util.inspect (console.log): the configuration and the parameter count, never the weights' values. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const c = this.config;
    if (this.#disposed) return 'VisionTransformer(<disposed>)';
    const params = [...this.parameters().values()];
    const count = params.reduce((n, t) => n + t.size, 0);
    return `VisionTransformer(img_size=${c.img_size}, patch_size=${c.patch_size}, embed_dim=${c.embed_dim}, depth=${c.depth}, ` +
      `num_heads=${c.num_heads}, num_classes=${c.num_classes}${c.distilled ? ', distilled' : ''}, attention=${c.attention.mechanism}, ` +
      `${count} parameters, ${params[0]?.dtype} on ${params[0]?.device}${this.training ? ', training' : ''})`;
  }

  /** Whether any dropout acts now: training with a drop rate above 0. */
  dropoutActive(): boolean {
    return (this.training && (this.config.drop_rate > 0 || this.config.pos_drop_rate > 0)) || this.blocks.some((b) => b.dropoutActive());
  }

  /** Sets the attention of every block (mechanism by registry name, mask or layout). */
  setAttention(cfg: AttentionConfig): void {
    for (const b of this.blocks) b.attn.attentionConfig = cfg;
  }

  /** images [B, C, H, W] -> tokens after the final norm [B, N, E]. */
  forwardFeatures(images: Tensor): Tensor {
    const fn = 'VisionTransformer.forwardFeatures';
    checkModelInput(fn, this.#disposed, images);
    const c = this.config;
    if (images.rank !== 4 || images.shape[1] !== c.in_chans || images.shape[2] !== c.img_size || images.shape[3] !== c.img_size) {
      throw new RangeError(`${fn}: expected images [B, ${c.in_chans}, ${c.img_size}, ${c.img_size}], got [${images.shape.join(', ')}]`);
    }
    return this.forwardMode(images, () => tidy(() => {
      // Each block's input is freed as soon as the next is made: at most two [B, N, E]
      // streams and one block's temporaries are held at once, not every block's output.
      let x = this.embed(images);
      for (const block of this.blocks) {
        const next = block.forward(x);
        x.dispose();
        x = next;
      }
      return this.norm.forward(x);
    }));
  }

  /** images -> tokens entering block 0: patch embedding, class token, position embedding. */
  embed(images: Tensor): Tensor {
    checkModelInput('VisionTransformer.embed', this.#disposed, images);
    return this.forwardMode(images, () => tidy(() => {
      const dtype = this.get('pos_embed').dtype;
      const input = images.dtype === dtype ? images : images.cast(dtype);
      const patches = this.patch_embed.forward(input);
      const B = images.shape[0];
      const prefix = ['cls_token', 'dist_token'].map((n) => this.getOptional(n)).filter((t): t is Tensor => t !== null);
      const tokens = prefix.length ? concat([...prefix.map((t) => broadcastBatch(t, B)), patches], 1) : patches;
      return dropout(add(tokens, this.get('pos_embed')), this.config.pos_drop_rate, this.training);
    }));
  }

  /** images [B, C, H, W] -> logits [B, num_classes] (or pooled features without a head). */
  forward(images: Tensor): Tensor {
    return this.forwardMode(images, () => tidy(() => {
      checkModelInput('VisionTransformer.forward', this.#disposed, images);
      const x = this.forwardFeatures(images);
      const pooled = this.pool(x);
      if (!this.head) return pooled;
      const logits = this.head.forward(dropout(pooled, this.config.drop_rate, this.training));
      if (!this.headDist) return logits;
      // DeiT at inference: the mean of the class-token head and the distillation-token head.
      const [B, , E] = x.shape;
      const dist = this.headDist.forward(dropout(slice(x, 1, 1, 2).reshape([B, E]), this.config.drop_rate, this.training));
      return mul(add(logits, dist), 0.5);
    }));
  }

  /**
   * The forward recorded as a CUDA graph for images of `shape` [B, C, H, W] in the model's
   * dtype on its device: run(images) replays it with one launch (see CapturedForward). The
   * model's weights and attention configuration must stay as they are while it is used.
   */
  capture(shape: readonly number[]): CapturedForward {
    const fn = 'VisionTransformer.capture';
    const c = this.config;
    if (!Array.isArray(shape) || shape.length !== 4 || shape[1] !== c.in_chans || shape[2] !== c.img_size || shape[3] !== c.img_size ||
      !Number.isInteger(shape[0]) || shape[0] < 1) {
      throw new RangeError(`${fn}: expected a shape [B, ${c.in_chans}, ${c.img_size}, ${c.img_size}] with B >= 1, got ${JSON.stringify(shape)}`);
    }
    if (this.dropoutActive()) {
      throw new Error(`${fn}: dropout is active (training with a drop rate above 0): a graph would replay one mask on every run; call eval() first`);
    }
    const like = this.get('pos_embed');
    return new CapturedForward((x) => this.forward(x), shape, { dtype: like.dtype as FloatDType, device: like.device });
  }

  /** Class-token or average pooling of the final tokens. */
  pool(x: Tensor): Tensor {
    const [B, N, E] = x.shape;
    if (this.config.global_pool === 'avg') {
      return mean(slice(x, 1, this.prefixTokens, N), 1);
    }
    return slice(x, 1, 0, 1).reshape([B, E]);
  }
}

/**
 * The class token [1, 1, E] for each of B images: a broadcast view (no copy), or, when it is
 * recorded, the same values through a recorded broadcast add, so that its gradient (the sum
 * over the batch) reaches it; a view has no history.
 */
function broadcastBatch(cls: Tensor, B: number): Tensor {
  const E = cls.shape[2];
  if (!(cls.requiresGrad && isGradEnabled())) return cls._view([B, 1, E], [0, 0, 1]);
  return add(zeros([B, 1, E], { dtype: cls.dtype, device: cls.device }), cls);
}

function scaled(shape: number[], std: number, o: InitOptions): Tensor {
  return tidy(() => {
    const t = randn(shape, { device: o.device, dtype: 'float32', seed: (o.seed ?? 0) + shape.length * 7919 + shape[shape.length - 2] });
    const s = mul(t, std);
    return o.dtype && o.dtype !== 'float32' ? s.cast(o.dtype) : s;
  });
}

export interface BuildOptions {
  device?: DeviceLike;
  dtype?: FloatDType;
  seed?: number;
}

/** A ViT with random (seeded) weights. */
export function buildViT(config: ViTConfig = {}, opts: BuildOptions = {}): VisionTransformer {
  const device: Device = checkDevice('buildViT', opts.device ?? 'cpu', 'options.device');
  return new VisionTransformer(config, { device, dtype: opts.dtype, seed: opts.seed ?? 0 });
}

/**
 * Loads a timm VisionTransformer checkpoint from a safetensors file (timm's names and
 * layouts). Missing, unexpected or mis-shaped tensors throw an Error with their counts, the
 * first few names and hints (a key prefix, a transposed weight, a config key that differs).
 */
export async function loadTimmViT(file: string, config: ViTConfig, opts: BuildOptions & { attention?: AttentionConfig } = {}): Promise<VisionTransformer> {
  return loadViTAs('loadTimmViT', file, config, opts);
}

/** @internal loadTimmViT under the name of the public function that called it. */
export async function loadViTAs(fn: string, file: string, config: ViTConfig, opts: BuildOptions & { attention?: AttentionConfig } = {}): Promise<VisionTransformer> {
  if (typeof file !== 'string') throw invalidParameterError(fn, 'file', 'a path', file);
  const st = await readSafetensors(file);
  const model = buildViT({ ...config, ...(opts.attention ? { attention: opts.attention } : {}) }, opts);
  const own = new Map([...model.parameters()].map(([name, t]) => [name, t.shape]));
  const mismatch = describeMismatch(fn, own, new Map([...st.tensors].map(([name, e]) => [name, e.shape])), model.config);
  if (mismatch) {
    model.dispose();
    throw new Error(`${mismatch}\n  (file: ${file})`);
  }
  const state = new Map<string, Tensor>();
  try {
    for (const [name, entry] of st.tensors) state.set(name, entryToTensor(entry, { device: opts.device ?? 'cpu' }));
    model.loadStateDict(state);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return model;
}

/** Every combination of the listed values over a base configuration (xFormers' sweep-friendly construction). */
export function* sweep(axes: { [K in keyof ViTConfig]?: ViTConfig[K][] }, base: ViTConfig = {}): Generator<ViTConfig> {
  const keys = Object.keys(axes) as (keyof ViTConfig)[];
  const at = new Array(keys.length).fill(0);
  if (keys.some((k) => (axes[k] ?? []).length === 0)) return;
  for (;;) {
    const config: ViTConfig = { ...base };
    keys.forEach((k, i) => { (config as Record<string, unknown>)[k] = (axes[k] as unknown[])[at[i]]; });
    yield config;
    let i = keys.length - 1;
    while (i >= 0 && ++at[i] === (axes[keys[i]] as unknown[]).length) at[i--] = 0;
    if (i < 0) return;
  }
}
