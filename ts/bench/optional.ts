// The plotting and host-timing packages are optional peer dependencies: `require('nodeformers')`
// loads none of them, and the function that needs one loads it on first use, or throws an
// Error that says what to install.

/** An Error saying which optional packages `what` needs and how to install them. */
export function missingPackageError(packages: readonly string[], what: string, cause: unknown): Error {
  const list = packages.join(' ');
  return Object.assign(new Error(`nodeformers: ${what} needs the optional package${packages.length > 1 ? 's' : ''} ${list}: npm install ${list} to ${what}`, { cause }),
    { code: 'ERR_NODEFORMERS_OPTIONAL_PACKAGE' });
}

function isNotFound(e: unknown, name: string): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return (err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_MODULE_NOT_FOUND') && String(err.message).includes(name);
}

/** require(name), or the missing-package Error naming `packages` (the set `what` needs). */
export function requireOptional<T>(name: string, packages: readonly string[], what: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (e) {
    throw isNotFound(e, name) ? missingPackageError(packages, what, e) : e;
  }
}

// vega and vega-lite ship ES modules only: loaded with a real import() (TypeScript would
// turn a plain import() into require() in this CommonJS build).
const importESM = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

/** import(name) of an ES-module-only package, or the missing-package Error. */
export async function importOptional<T>(name: string, packages: readonly string[], what: string): Promise<T> {
  try {
    return (await importESM(name)) as T;
  } catch (e) {
    throw isNotFound(e, name) ? missingPackageError(packages, what, e) : e;
  }
}
