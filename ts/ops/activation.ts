// The activations of xFormers, elementwise and fused with a bias add: out = act(x + bias).
// One native kernel (biasActivation) serves them all; the formulas live in
// native/core/activation.h, shared by the CPU and CUDA backends. Computed in float32,
// rounded once to the tensor's dtype.
import { invalidParameterError, rangeError, typeError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import {
  checkFinite, checkFloatTensor, checkOptions, checkVector, contiguousIn, fill, OutOptions, prepareOutput,
} from './checks';
import { checkRecordable, needsGrad, record } from '../autograd/graph';
import { biasActivationGrad } from '../autograd/grads/activation';

/** An activation by name. */
export type ActivationName = 'relu' | 'gelu' | 'gelu_tanh' | 'leaky_relu' | 'squared_relu' | 'smelu' | 'star_relu' | 'none';

/** An activation with its parameters; the ones left out take their defaults. */
export interface ActivationConfig {
  name: ActivationName;
  /** leaky_relu: the slope for x < 0. Default 0.01. */
  slope?: number;
  /** smelu: the half-width of the quadratic region, > 0. Default 2. */
  beta?: number;
  /** star_relu: multiplies relu(x)². Default 0.8944. */
  scale?: number;
  /** star_relu: added after scaling. Default -0.4472. */
  bias?: number;
}

/**
 * An activation: a name, or a name with parameters.
 * - `none`: x
 * - `relu`: max(x, 0)
 * - `gelu`: 0.5·x·(1 + erf(x/√2)) (exact)
 * - `gelu_tanh`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (the tanh approximation)
 * - `leaky_relu`: x for x > 0, else slope·x (slope default 0.01)
 * - `squared_relu`: relu(x)²
 * - `smelu`: 0 for x ≤ −β, x for x ≥ β, else (x + β)²/(4β) (beta default 2)
 * - `star_relu`: scale·relu(x)² + bias (scale default 0.8944, bias default −0.4472)
 */
export type ActivationSpec = ActivationName | ActivationConfig;

/** The activation names, in the order of their native codes. */
export const ACTIVATIONS: readonly ActivationName[] = [
  'none', 'relu', 'gelu', 'gelu_tanh', 'leaky_relu', 'squared_relu', 'smelu', 'star_relu',
];

// Native codes: native/core/ops.h, enum class Activation.
const CODES: Readonly<Record<ActivationName, number>> = {
  none: 0, relu: 1, gelu: 2, gelu_tanh: 3, leaky_relu: 4, squared_relu: 5, smelu: 6, star_relu: 7,
};

const PARAMETERS: Readonly<Record<ActivationName, readonly (keyof ActivationConfig)[]>> = {
  none: [], relu: [], gelu: [], gelu_tanh: [], squared_relu: [], leaky_relu: ['slope'], smelu: ['beta'], star_relu: ['scale', 'bias'],
};

export const ACTIVATION_DEFAULTS = { slope: 0.01, beta: 2.0, scale: 0.8944, bias: -0.4472 } as const;

const described = `one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}, or { name, ...parameters }`;

/** @internal An activation's native [code, param, param2] (native/core/ops.h). */
export type ActivationCode = readonly [number, number, number];

/** The code of `kind` with the parameters `config` gives (checked) and the defaults for the rest. */
function configuredCode(fn: string, name: string, kind: ActivationName, config: Partial<ActivationConfig>): ActivationCode {
  const param = (key: 'slope' | 'beta' | 'scale' | 'bias'): number =>
    config[key] === undefined ? ACTIVATION_DEFAULTS[key] : checkFinite(fn, `${name}.${key}`, config[key]);
  switch (kind) {
    case 'leaky_relu':
      return [CODES[kind], param('slope'), 0];
    case 'smelu': {
      const beta = param('beta');
      if (!(beta > 0)) throw rangeError(fn, `${name}.beta must be positive, got ${beta}`);
      return [CODES[kind], beta, 0];
    }
    case 'star_relu':
      return [CODES[kind], param('scale'), param('bias')];
    default:
      return [CODES[kind], 0, 0];
  }
}

// The code of each activation given by its name alone (its parameters at their defaults),
// made once: a name is what nearly every call gives.
const CODE_OF_NAME = new Map<string, ActivationCode>(
  ACTIVATIONS.map((kind) => [kind, Object.freeze(configuredCode('activationCode', 'activation', kind, {})) as ActivationCode]),
);

/**
 * @internal Checks an activation spec and gives its native [code, param, param2]. Errors
 * name `fn` and the argument (`name`).
 */
export function activationCode(fn: string, spec: unknown, name = 'activation'): ActivationCode {
  if (typeof spec === 'string') {
    const code = CODE_OF_NAME.get(spec);
    if (code === undefined) throw invalidParameterError(fn, name, described, spec);
    return code;
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw invalidParameterError(fn, name, described, spec);
  const config = spec as Partial<ActivationConfig>;
  if (typeof config.name !== 'string' || !(ACTIVATIONS as readonly string[]).includes(config.name)) {
    throw invalidParameterError(fn, `${name}.name`, `one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}`, config.name);
  }
  const kind = config.name;
  for (const key of Object.keys(config)) {
    const given = (config as Record<string, unknown>)[key] !== undefined;
    if (key !== 'name' && given && !(PARAMETERS[kind] as readonly string[]).includes(key)) {
      const takes = PARAMETERS[kind].length > 0 ? `takes only ${PARAMETERS[kind].join(', ')}` : 'takes no parameters';
      throw typeError(fn, `${name} '${kind}' has no parameter '${key}' (it ${takes})`);
    }
  }
  return configuredCode(fn, name, kind, config);
}

// act(x + bias) after the arguments are checked: x float, bias [lastDim] like x or null;
// spec (checked) is what code was made from, for the gradient.
function run(fn: string, x: Tensor, bias: Tensor | null, spec: ActivationSpec, code: ActivationCode, out: unknown): Tensor {
  const tracked = needsGrad(x, bias);
  if (tracked) checkRecordable(fn, { out });
  const o = prepareOutput(fn, out, x.shape, x, { x, bias }, 'inPlace');
  const y = fill(o, (temps) => {
    if (x.size === 0) return;
    const xc = contiguousIn(x, temps);
    const bc = bias && contiguousIn(bias, temps);
    native().biasActivation(o.out, xc, bc, code[0], code[1], code[2]);
  });
  return tracked ? record(fn, y, [x, bias], bias ? [x, bias] : [x], biasActivationGrad(spec)) : y;
}

function unary(fn: string, x: unknown, spec: ActivationSpec, options: OutOptions | undefined): Tensor {
  const t = checkFloatTensor(fn, 'x', x);
  const o = checkOptions(fn, options);
  return run(fn, t, null, spec, activationCode(fn, spec), o.out);
}

/**
 * act(x + bias), elementwise, in one pass: x [..., C] of a float dtype, any strides;
 * bias [C] of x's dtype and device, or null. Returns a contiguous tensor of x's shape
 * (or writes options.out, which may be x itself when x is contiguous).
 */
export function biasActivation(x: Tensor, bias: Tensor | null | undefined, activation: ActivationSpec, options?: OutOptions): Tensor {
  const fn = 'biasActivation';
  const t = checkFloatTensor(fn, 'x', x);
  let b: Tensor | null = null;
  if (bias !== null && bias !== undefined) {
    if (t.rank < 1) throw rangeError(fn, 'x must have at least one dimension when a bias is given, got []');
    b = checkVector(fn, 'bias', bias, t.shape[t.rank - 1], t, 'x');
  }
  const code = activationCode(fn, activation);
  const o = checkOptions(fn, options);
  return run(fn, t, b, activation, code, o.out);
}

/** act(x) for an activation given by name or { name, ...parameters } (see ActivationSpec). */
export function activation(x: Tensor, spec: ActivationSpec, options?: OutOptions): Tensor {
  return unary('activation', x, spec, options);
}

/** max(x, 0). */
export function relu(x: Tensor, options?: OutOptions): Tensor {
  return unary('relu', x, 'relu', options);
}

/** The exact GELU: 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: Tensor, options?: OutOptions): Tensor {
  return unary('gelu', x, 'gelu', options);
}

/** GELU's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanh(x: Tensor, options?: OutOptions): Tensor {
  return unary('geluTanh', x, 'gelu_tanh', options);
}

/** x for x > 0, else slope·x. slope defaults to 0.01. */
export function leakyRelu(x: Tensor, slope: number = ACTIVATION_DEFAULTS.slope, options?: OutOptions): Tensor {
  checkFinite('leakyRelu', 'slope', slope);
  return unary('leakyRelu', x, { name: 'leaky_relu', slope }, options);
}

/** relu(x)². */
export function squaredRelu(x: Tensor, options?: OutOptions): Tensor {
  return unary('squaredRelu', x, 'squared_relu', options);
}

/** SmeLU: 0 for x ≤ −β, x for x ≥ β, else (x + β)²/(4β). beta > 0 defaults to 2. */
export function smelu(x: Tensor, beta: number = ACTIVATION_DEFAULTS.beta, options?: OutOptions): Tensor {
  if (!(checkFinite('smelu', 'beta', beta) > 0)) throw rangeError('smelu', `beta must be positive, got ${beta}`);
  return unary('smelu', x, { name: 'smelu', beta }, options);
}

/** StarReLU: scale·relu(x)² + bias. scale defaults to 0.8944, bias to −0.4472. */
export function starRelu(x: Tensor, options?: { scale?: number; bias?: number } & OutOptions): Tensor {
  const fn = 'starRelu';
  const o = checkOptions(fn, options);
  const spec: ActivationConfig = { name: 'star_relu' };
  if (o.scale !== undefined) spec.scale = o.scale;
  if (o.bias !== undefined) spec.bias = o.bias;
  const t = checkFloatTensor(fn, 'x', x);
  return run(fn, t, null, spec, activationCode(fn, spec, 'options'), o.out);
}
