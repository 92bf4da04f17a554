// The host-side (JavaScript) cost of tiny op calls on the CPU backend, by Benchmark.js.
// Usage: node --import tsx bench/host.ts [--max-time seconds]
import { benchHost } from '../ts/bench/suite/host';

const args = process.argv.slice(2);
const maxTime = args.includes('--max-time') ? Number(args[args.indexOf('--max-time') + 1]) : 1;
benchHost({ maxTime, log: (line) => console.log(line) });
