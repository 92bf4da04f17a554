// The host's time per call of fn: after `warmup` calls and a synchronize, `calls` calls
// with no sync between them (host: what issuing one costs the host), then one synchronize
// (wall: host plus whatever GPU work was still queued). host ~ wall: the host bounds fn.
import { cuda, type Device } from '../../ts/index';

export function hostTimed(fn: () => unknown, calls: number, device: Device | 'cuda', warmup = Math.min(2000, calls)): { hostUs: number; wallUs: number } {
  const sync = () => { if (device !== 'cpu') cuda.synchronize(device); };
  for (let i = 0; i < warmup; i++) fn();
  sync();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) fn();
  const host = performance.now() - t0;
  sync();
  const wall = performance.now() - t0;
  return { hostUs: (1e3 * host) / calls, wallUs: (1e3 * wall) / calls };
}
