// Validation + encoding alone, no kernel: W2's three requests per node
// (neighbour, FDB entry, onlink route) for 1,000 nodes, recorded and encoded
// as encodeRequests does, then each half on its own. µs per request over
// --reps rounds after ten warm-up rounds: the median, with the quartiles as the
// spread, of wall time and of the process's CPU time (which leaves out the
// time spent waiting for a CPU on a shared machine). The goal:
// validate + encode ≤ 1.5 µs.
//
//   npm run compile && node dist/bench/encode.js [--reps 50] [--n 1000]
import { Batch, encodeRequests } from '../src/index.js';
import { addon } from '../src/native.js';
import { nowUs, parseArgs, range } from './lib.js';

const hi = (i: number) => 1 + Math.floor(i / 250);
const lo = (i: number) => i % 250;
const mac = (i: number) => `02:42:0a:00:${hi(i).toString(16).padStart(2, '0')}:${lo(i).toString(16).padStart(2, '0')}`;

function fill(b: Batch, n: number): void {
  for (let i = 0; i < n; i++) {
    b.neighAdd({ link: 5, address: `10.${hi(i)}.${lo(i)}.0`, lladdr: mac(i), state: 'permanent' });
    b.fdbAdd({ link: 5, mac: mac(i), dst: `192.168.${hi(i)}.${1 + lo(i)}`, target: 'self', state: 'permanent' });
    b.routeAdd({ dst: `10.${hi(i)}.${lo(i)}.0/24`, gateway: `10.${hi(i)}.${lo(i)}.0`, link: 5, flags: ['onlink'] });
  }
}

/** "median (q1–q3)" of xs. */
function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b), q = (f: number) => s[Math.floor(f * (s.length - 1))]!.toFixed(2);
  return `${q(0.5)} (${q(0.25)}–${q(0.75)})`;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const reps = Number(args.get('reps') ?? 50), n = Number(args.get('n') ?? 1000);
  const per = (f: () => void) => {
    for (let i = 0; i < 10; i++) f(); // warm-up: the JIT has tiered up before the timed rounds

    const wall: number[] = [], cpu: number[] = [];
    for (const _ of range(reps)) {
      const t0 = nowUs(), c0 = process.cpuUsage();
      f();
      const c = process.cpuUsage(c0);
      wall.push((nowUs() - t0) / (3 * n));
      cpu.push((c.user + c.system) / (3 * n));
    }
    return `wall ${spread(wall)}, CPU ${spread(cpu)}`;
  };
  const recorded = new Batch();
  fill(recorded, n);
  console.log(`W2 requests (${3 * n} per round, ${reps} rounds), µs per request, median (quartiles):`);
  console.log(`  validate + encode: ${per(() => encodeRequests((b) => fill(b, n)))}`);
  console.log(`  validate alone:    ${per(() => fill(new Batch(), n))}`);
  console.log(`  encode alone:      ${per(() => addon().encode(...recorded.requests.args()))}`);
}

main();
