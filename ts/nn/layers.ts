// The ViT's building blocks as modules over the typed ops. Parameters are created with
// random values (seeded) and replaced by loadStateDict() when weights are loaded. The layers
// with parameters of their own (Linear, LayerNorm, PatchEmbed, EncoderBlock's layer scale)
// run through Module.forwardMode: in eval mode they record nothing (MLP and
// MultiHeadAttention are made of them).
import { attention, splitQkv } from '../attention';
import { getAttention, MechanismGeometry } from '../attention/registry';
import type { AttentionModule } from '../attention/module';
import { invalidParameterError } from '../errors';
import { Device, FloatDType } from '../dtype';
import { add, dropout, dropPath, layerNorm, linear, mul, patchEmbed, residualAdd } from '../ops';
import { checkProbability } from '../ops/dropout_backward';
import type { ActivationSpec } from '../ops';
import { encoderBlockNeedsGrad, encoderBlockReasons, EncoderBlockWeights, runEncoderBlock } from '../ops/encoder_block';
import { isTensor, randn, ones, zeros, Tensor, tidy } from '../tensor';
import { needsGradAny } from '../autograd/graph';
import { Module } from './module';

export interface InitOptions {
  device?: Device;
  dtype?: FloatDType;
  /** Seeds the random initial values; each parameter draws from seed + its index. */
  seed?: number;
  /**
   * The count of parameters drawn so far. A model passes one counter to all its layers (the
   * ViT makes its own), so that its weights depend on its seed alone, not on what else the
   * process built before; layers made without one share a process-wide count.
   */
  draws?: { next: number };
}

const processDraws = { next: 0 };
/** A new parameter drawn from N(0, std²), seeded by o.seed and its index in o.draws, on o.device in o.dtype (the layers' and the mechanisms' initializer). */
export function init(shape: readonly number[], std: number, o: InitOptions): Tensor {
  const index = (o.draws ?? processDraws).next++;
  const t = randn(shape, { device: o.device, dtype: 'float32', seed: (o.seed ?? 0) * 1000003 + index });
  const scaled = tidy(() => mul(t, std));
  t.dispose();
  if ((o.dtype ?? 'float32') === 'float32') return scaled;
  const c = scaled.cast(o.dtype!);
  scaled.dispose();
  return c;
}

export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, { bias = true, ...o }: InitOptions & { bias?: boolean } = {}) {
    super();
    this.param('weight', init([outFeatures, inFeatures], 1 / Math.sqrt(inFeatures), o));
    this.param('bias', bias ? zeros([outFeatures], { device: o.device, dtype: o.dtype }) : null);
  }
  get weight(): Tensor { return this.get('weight'); }
  get bias(): Tensor | null { return this.getOptional('bias'); }
  forward(x: Tensor, activation?: ActivationSpec): Tensor {
    return this.forwardMode(x, () => linear(x, this.weight, this.bias, { activation }));
  }
  /**
   * residual + x Wᵀ + b in one GEMM (the residual read as its C input): a new tensor, or the
   * residual updated in place (and returned) when inPlace and nothing records (the tape records new outputs).
   */
  forwardAdd(x: Tensor, residual: Tensor, inPlace = false): Tensor {
    return this.forwardMode(x, () => {
      const into = inPlace && !needsGradAny([x, this.weight, this.bias, residual]);
      return linear(x, this.weight, this.bias, { residual, out: into ? residual : undefined });
    });
  }
}

export class LayerNorm extends Module {
  constructor(readonly features: number, readonly eps = 1e-5, o: InitOptions = {}) {
    super();
    this.param('weight', ones([features], { device: o.device, dtype: o.dtype }));
    this.param('bias', zeros([features], { device: o.device, dtype: o.dtype }));
  }
  get weight(): Tensor { return this.get('weight'); }
  get bias(): Tensor { return this.get('bias'); }
  forward(x: Tensor): Tensor {
    return this.forwardMode(x, () => layerNorm(x, this.get('weight'), this.get('bias'), this.eps));
  }
}

/** A dropout rate of a module's options: a probability in [0, 1]. */
function checkRate(fn: string, name: string, value: number): number {
  return checkProbability(fn, name, value);
}

export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  /** Dropout after the activation and after fc2 while training (timm's Mlp drop, the ViT's proj_drop_rate). */
  readonly drop: number;
  constructor(dim: number, hidden: number, readonly activation: ActivationSpec = 'gelu', { drop = 0, ...o }: InitOptions & { drop?: number } = {}) {
    super();
    this.drop = checkRate('MLP', 'drop', drop);
    this.fc1 = this.child('fc1', new Linear(dim, hidden, o));
    this.fc2 = this.child('fc2', new Linear(hidden, dim, o));
  }
  /** Whether forward() drops anything now (training, drop > 0). */
  dropoutActive(): boolean {
    return this.training && this.drop > 0;
  }
  /**
   * fc2(act(fc1(x))); with a residual, residual + that, added in fc2's GEMM (into the residual
   * when inPlace). While training with drop > 0: fc2(dropout(act(fc1(x)))), dropped again.
   */
  forward(x: Tensor, residual: Tensor | null = null, inPlace = false): Tensor {
    if (this.dropoutActive()) return this.forwardDropped(x, residual, inPlace);
    const h = this.fc1.forward(x, this.activation);
    try {
      return residual ? this.fc2.forwardAdd(h, residual, inPlace) : this.fc2.forward(h);
    } finally {
      h.dispose();
    }
  }

  private forwardDropped(x: Tensor, residual: Tensor | null, inPlace: boolean): Tensor {
    return tidy(() => {
      const y = dropout(this.fc2.forward(dropout(this.fc1.forward(x, this.activation), this.drop)), this.drop);
      if (!residual) return y;
      return inPlace ? residualAdd(residual, y) : add(residual, y);
    });
  }
}

/** Attention options a model carries: the mechanism by registry name and its extras. */
export interface AttentionConfig {
  mechanism?: string;
  /** A uint8 [N, N] mask (1 = attend) or any object the mechanism accepts (e.g. a SparseMask). */
  mask?: unknown;
  layout?: unknown;
  [key: string]: unknown;
}

export class MultiHeadAttention extends Module {
  /** The qkv projection; null while the mechanism's module takes the tokens themselves. */
  qkv: Linear | null = null;
  readonly proj: Linear;
  /** Dropout on the attention probabilities while training (timm's attn_drop). */
  readonly attnDrop: number;
  /** Dropout after the output projection while training (timm's proj_drop). */
  readonly projDrop: number;
  /** The mechanism's module (named "attention"), when it makes one (AttentionMechanism.createModule). */
  attentionModule: AttentionModule | null = null;
  private readonly geometry: MechanismGeometry;
  private readonly init: InitOptions & { qkvBias: boolean };
  private config: AttentionConfig = {};
  constructor(readonly dim: number, readonly numHeads: number, {
    qkvBias = false, attention: cfg = {}, attnDrop = 0, projDrop = 0, geometry = {}, ...o
  }: InitOptions & {
    qkvBias?: boolean; attention?: AttentionConfig; attnDrop?: number; projDrop?: number;
    /** The tokens and their grid, for mechanisms that need them (a ViT passes its own). */
    geometry?: Omit<MechanismGeometry, 'dim' | 'heads'>;
  } = {}) {
    super();
    if (dim % numHeads !== 0) throw new RangeError(`MultiHeadAttention: dim ${dim} is not a multiple of numHeads ${numHeads}`);
    this.attnDrop = checkRate('MultiHeadAttention', 'attnDrop', attnDrop);
    this.projDrop = checkRate('MultiHeadAttention', 'projDrop', projDrop);
    this.geometry = { ...geometry, dim, heads: numHeads };
    this.init = { ...o, qkvBias };
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim, { ...o, bias: qkvBias }));
    this.proj = this.child('proj', new Linear(dim, dim, o));
    this.attentionConfig = cfg;
  }

  /**
   * The attention's configuration: the mechanism by name and its options. Setting it makes the
   * mechanism's module where it has one (new parameters, randomly initialized), and drops the
   * qkv projection for a module that takes the tokens (or makes one again for a mechanism that
   * needs it).
   */
  get attentionConfig(): AttentionConfig {
    return this.config;
  }
  set attentionConfig(cfg: AttentionConfig) {
    const fn = 'MultiHeadAttention';
    if (cfg === null || typeof cfg !== 'object') throw invalidParameterError(fn, 'attention', 'an object ({ mechanism, ...options })', cfg);
    const { mechanism = 'memory_efficient', ...options } = cfg;
    const impl = typeof mechanism === 'string' ? getAttention(mechanism) : undefined;
    const made = impl?.createModule ? impl.createModule(fn, options, this.geometry, this.init) : null;
    this.replaceChild('attention', this.attentionModule, made);
    this.attentionModule = made;
    const wantsQkv = made?.input !== 'tokens';
    if (wantsQkv !== (this.qkv !== null)) {
      const qkv = wantsQkv ? new Linear(this.dim, 3 * this.dim, { ...this.init, bias: this.init.qkvBias }) : null;
      this.replaceChild('qkv', this.qkv, qkv);
      this.qkv = qkv;
    }
    this.config = cfg;
  }

  /** Puts `next` (or nothing) under `name` in place of `prev`, which is disposed; next takes this module's mode. */
  private replaceChild(name: string, prev: Module | null, next: Module | null): void {
    if (prev !== null) {
      this.children.delete(name);
      prev.dispose();
    }
    if (next === null) return;
    this.child(name, next);
    if (this.training) next.train(true);
  }

  /** Whether forward() drops anything now (training, attnDrop or projDrop > 0). */
  dropoutActive(): boolean {
    return this.training && (this.attnDrop > 0 || this.projDrop > 0);
  }

  /**
   * x [B, N, C] -> [B, N, C]. The qkv projection [B, N, 3, H, D] is read in place. With a
   * residual [B, N, C], residual + attn(x), added in the output projection's GEMM. While
   * training, attnDrop goes to attention() as options.dropout (mechanisms that never hold the
   * probabilities refuse it: see checkAttnDrop) and projDrop drops the projection's output.
   */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    const [B, N, C] = x.shape;
    const D = C / this.numHeads;
    const attnDrop = this.training ? this.attnDrop : 0;
    const projDrop = this.training ? this.projDrop : 0;
    if (attnDrop > 0) this.checkAttnDrop();
    return tidy(() => {
      // The inner scope frees qkv (three streams wide) before the projection runs.
      const o = tidy(() => {
        const options = attnDrop > 0 ? { ...this.config, dropout: attnDrop } : this.config;
        const m = this.attentionModule;
        if (m?.input === 'tokens') return m.forwardTokens(x, options);
        const qkv = this.qkv!.forward(x).reshape([B, N, 3, this.numHeads, D]);
        const { q, k, v } = splitQkv(qkv);
        return m ? m.forwardHeads(q, k, v, options) : attention(q, k, v, options as never);
      });
      const merged = o.reshape([B, N, C]);
      if (projDrop === 0) return residual ? this.proj.forwardAdd(merged, residual) : this.proj.forward(merged);
      const y = dropout(this.proj.forward(merged), projDrop);
      return residual ? add(residual, y) : y;
    });
  }

  /**
   * Throws an Error naming attn_drop_rate when the mechanism cannot apply it: dropout needs the
   * probabilities, which only 'vanilla' (or a mechanism registered with supportsDropout)
   * materializes; switching to an N x N path silently would change the memory a run needs.
   */
  private checkAttnDrop(): void {
    const mechanism = this.config.mechanism ?? 'memory_efficient';
    const impl = typeof mechanism === 'string' ? getAttention(mechanism) : undefined;
    if (impl === undefined || impl.supportsDropout) return; // an unknown name: attention() says so
    throw new Error(`MultiHeadAttention: attn_drop_rate (attnDrop) = ${this.attnDrop} needs the attention probabilities, which mechanism ` +
      `'${mechanism}' never materializes; train with attention mechanism 'vanilla', set attn_drop_rate to 0, or call eval() (no dropout)`);
  }
}

export class EncoderBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly norm2: LayerNorm;
  readonly mlp: MLP;
  constructor(dim: number, numHeads: number, {
    mlpRatio = 4, qkvBias = false, activation = 'gelu' as ActivationSpec, normEps = 1e-5, preNorm = true, layerScale = null as number | null,
    attention: cfg = {} as AttentionConfig, fused = true, attnDrop = 0, projDrop = 0, dropPath: dropPathRate = 0, geometry = {}, ...o
  }: InitOptions & {
    mlpRatio?: number; qkvBias?: boolean; activation?: ActivationSpec; normEps?: number; preNorm?: boolean; layerScale?: number | null;
    attention?: AttentionConfig; fused?: boolean;
    /** The tokens and their grid, for the attention mechanisms that need them. */
    geometry?: Omit<MechanismGeometry, 'dim' | 'heads'>;
    /** timm's Block attn_drop, proj_drop (in the attention and the MLP) and drop_path (stochastic depth of both branches); each 0 by default. */
    attnDrop?: number; projDrop?: number; dropPath?: number;
  } = {}) {
    super();
    this.preNorm = preNorm;
    this.fused = fused;
    this.dropPathRate = checkRate('EncoderBlock', 'dropPath', dropPathRate);
    this.norm1 = this.child('norm1', new LayerNorm(dim, normEps, o));
    this.attn = this.child('attn', new MultiHeadAttention(dim, numHeads, { ...o, qkvBias, attention: cfg, attnDrop, projDrop, geometry }));
    this.norm2 = this.child('norm2', new LayerNorm(dim, normEps, o));
    this.mlp = this.child('mlp', new MLP(dim, Math.round(dim * mlpRatio), activation, { ...o, drop: projDrop }));
    if (layerScale !== null) {
      this.param('ls1', tidy(() => mul(ones([dim], { device: o.device, dtype: o.dtype }), layerScale)));
      this.param('ls2', tidy(() => mul(ones([dim], { device: o.device, dtype: o.dtype }), layerScale)));
    }
  }
  readonly preNorm: boolean;
  /** Stochastic depth while training: each branch is dropped per sample with this probability (timm's DropPath). */
  readonly dropPathRate: number;
  /**
   * Whether forward() may run the block as one native call (forwardFused) where the block
   * and its attention mechanism allow; false runs it op by op. The results are the same
   * (test/fused_block.test.ts): this is for A/B timing.
   */
  fused: boolean;

  /** x += dropPath(branch · scale): layer scale, then stochastic depth (while training), then the residual add in place. */
  private addBranch(x: Tensor, branch: Tensor, scale: Tensor | null): void {
    tidy(() => {
      const scaled = scale ? mul(branch, scale) : branch;
      residualAdd(x, dropPath(scaled, this.dropPathRate, this.training));
    });
  }

  /** Whether any dropout of the block acts now: training with attnDrop, projDrop or dropPath above 0. */
  dropoutActive(): boolean {
    return (this.training && this.dropPathRate > 0) || this.attn.dropoutActive() || this.mlp.dropoutActive();
  }

  /**
   * x [B, N, C] -> [B, N, C]; pre-norm: x + attn(norm1(x)), then + mlp(norm2(x)). Post-norm
   * normalizes after each sum. While training, the dropouts act (op by op: the fused block
   * has none).
   */
  forward(x: Tensor): Tensor {
    return this.forwardMode(x, () => (this.fused ? this.forwardFused(x) : null) ?? this.forwardOps(x));
  }

  /** The parameters as encoderBlock() takes them. */
  private blockWeights(): EncoderBlockWeights {
    const { norm1, attn, norm2, mlp } = this;
    return {
      norm1Weight: norm1.weight, norm1Bias: norm1.bias, qkvWeight: attn.qkv!.weight, qkvBias: attn.qkv!.bias, projWeight: attn.proj.weight,
      projBias: attn.proj.bias, norm2Weight: norm2.weight, norm2Bias: norm2.bias, fc1Weight: mlp.fc1.weight, fc1Bias: mlp.fc1.bias,
      fc2Weight: mlp.fc2.weight, fc2Bias: mlp.fc2.bias,
    };
  }

  /**
   * @internal The block as one native call (ts/ops/encoder_block.ts), or null where that
   * call does not serve this block or these inputs: post-norm, layer scale, a dropout active
   * (training with a rate above 0: the native block has no dropout), an attention
   * mechanism that offers no block plan for its options (AttentionMechanism.blockPlan), or
   * arguments that forwardOps would refuse (it then says why).
   */
  forwardFused(x: Tensor): Tensor | null {
    if (!this.preNorm || this.getOptional('ls1') !== null || this.dropoutActive()) return null;
    const H = this.attn.numHeads;
    const { mechanism = 'memory_efficient', scale, ...options } = this.attn.attentionConfig ?? {};
    const impl = typeof mechanism === 'string' ? getAttention(mechanism) : undefined;
    if (!impl?.blockPlan || this.attn.attentionModule !== null || this.attn.qkv === null || !isTensor(x) || x.rank !== 3) return null;
    const [, N, C] = x.shape;
    const D = C / H;
    const block = {
      heads: H, eps1: this.norm1.eps, eps2: this.norm2.eps, activation: this.mlp.activation,
      scale: scale === undefined ? 1 / Math.sqrt(Math.max(D, 1)) : (scale as number),
    };
    const weights = this.blockWeights();
    if (C !== this.attn.dim || encoderBlockNeedsGrad(x, weights) || encoderBlockReasons(x, weights, block).length > 0) return null;
    const plan = impl.blockPlan({ heads: H, tokens: N, headDim: D, dtype: x.dtype as FloatDType, device: x.device, options });
    return plan ? runEncoderBlock(x, weights, { ...block, attention: plan }) : null;
  }

  /** @internal The block op by op (forward() takes this where forwardFused() does not serve, or with fused false). */
  forwardOps(x: Tensor): Tensor {
    // Without layer scale each residual add is the C input of the branch's last GEMM (proj,
    // fc2): no copy of x, no separate add. Each branch runs in its own scope, so its norm
    // output and temporaries are freed as soon as it is added in. Stochastic depth drops a
    // whole branch before its add, so it takes the general path below.
    if (this.getOptional('ls1') === null && !(this.training && this.dropPathRate > 0)) {
      return tidy(() => {
        const out = tidy(() => this.attn.forward(this.preNorm ? this.norm1.forward(x) : x, x)); // x + attn(·)
        if (this.preNorm) return addedTo(out, tidy(() => this.mlp.forward(this.norm2.forward(out), out, true))); // out += mlp(norm2(out))
        const mid = this.norm1.forward(out);
        out.dispose();
        const sum = addedTo(mid, tidy(() => this.mlp.forward(mid, mid, true))); // mid += mlp(mid)
        return this.norm2.forward(sum);
      });
    }
    return tidy(() => {
      const out = x.clone();
      if (this.preNorm) {
        tidy(() => this.addBranch(out, this.attn.forward(this.norm1.forward(out)), this.getOptional('ls1')));
        tidy(() => this.addBranch(out, this.mlp.forward(this.norm2.forward(out)), this.getOptional('ls2')));
        return out;
      }
      tidy(() => this.addBranch(out, this.attn.forward(out), this.getOptional('ls1')));
      const mid = this.norm1.forward(out);
      out.dispose();
      tidy(() => this.addBranch(mid, this.mlp.forward(mid), this.getOptional('ls2')));
      return this.norm2.forward(mid);
    });
  }
}

/** What a residual add gave: the residual itself (added in place), or a new sum (while recording), the residual then disposed. */
function addedTo(residual: Tensor, result: Tensor): Tensor {
  if (result !== residual) residual.dispose();
  return result;
}

/** The patch convolution's parameters: weight [E, C, P, P] and bias [E] (timm's "proj"). */
class PatchProjection extends Module {
  constructor(embedDim: number, inChans: number, patchSize: number, o: InitOptions) {
    super();
    this.param('weight', init([embedDim, inChans, patchSize, patchSize], 1 / Math.sqrt(inChans * patchSize * patchSize), o));
    this.param('bias', zeros([embedDim], { device: o.device, dtype: o.dtype }));
  }
  get weight(): Tensor { return this.get('weight'); }
  get bias(): Tensor | null { return this.getOptional('bias'); }
}

export class PatchEmbed extends Module {
  readonly proj: PatchProjection;
  constructor(readonly patchSize: number, readonly inChans: number, readonly embedDim: number, o: InitOptions = {}) {
    super();
    this.proj = this.child('proj', new PatchProjection(embedDim, inChans, patchSize, o));
  }
  /** images [B, C, H, W] -> [B, (H/P)(W/P), E] */
  forward(images: Tensor): Tensor {
    return this.forwardMode(images, () => patchEmbed(images, this.proj.weight, this.proj.bias, this.patchSize));
  }
}
