// Where the host's time goes, for the bench scripts: `run` under V8's sampling profiler
// (node:inspector), and the self time of each function (by name and file, the addon's and
// V8's own as "(native or builtin)"), largest first, in microseconds.
import { Session } from 'node:inspector';

interface Profile { nodes: { id: number; callFrame: { functionName: string; url: string } }[]; samples: number[]; timeDeltas: number[] }

export interface SelfTimes {
  /** All sampled time, in microseconds. */
  totalUs: number;
  /** [function, self time in microseconds], largest first. */
  byFunction: [string, number][];
}

export async function profileSelfTimes(run: () => void, intervalUs: number): Promise<SelfTimes> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));
  try {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: intervalUs });
    await post('Profiler.start');
    run();
    const { profile: p } = await post<{ profile: Profile }>('Profiler.stop');
    const self = new Map<number, number>();
    p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + p.timeDeltas[i]));
    const byName = new Map<string, number>();
    for (const node of p.nodes) {
      const f = node.callFrame;
      const name = `${f.functionName || '(anonymous)'} ${f.url ? f.url.split('/').slice(-2).join('/') : '(native or builtin)'}`;
      byName.set(name, (byName.get(name) ?? 0) + (self.get(node.id) ?? 0));
    }
    return { totalUs: p.timeDeltas.reduce((a, b) => a + b, 0), byFunction: [...byName].sort((a, b) => b[1] - a[1]) };
  } finally {
    session.disconnect();
  }
}
