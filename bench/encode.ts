// Validation + encoding alone, no kernel: W2's three requests per node
// (neighbour, FDB entry, onlink route) for 1,000 nodes, recorded and encoded
// as encodeRequests does, then each half on its own. µs per request, median
// of --reps rounds after a warm-up. The goal: validate + encode ≤ 1.5 µs.
//
//   npm run compile && node dist/bench/encode.js [--reps 50] [--n 1000]
import { Batch, encodeRequests } from '../src/index.js';
import { addon } from '../src/native.js';
import { median, nowUs, parseArgs, range } from './lib.js';

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

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const reps = Number(args.get('reps') ?? 50), n = Number(args.get('n') ?? 1000);
  const per = (f: () => void) => {
    f();
    return median(range(reps).map(() => {
      const t0 = nowUs();
      f();
      return (nowUs() - t0) / (3 * n);
    }));
  };
  const recorded = new Batch();
  fill(recorded, n);
  const both = per(() => encodeRequests((b) => fill(b, n)));
  const validate = per(() => fill(new Batch(), n));
  const encode = per(() => addon().encode(recorded.requests));
  console.log(`W2 requests (${3 * n} per round, median of ${reps}), µs per request: validate + encode ${both.toFixed(2)}, validate alone ${validate.toFixed(2)}, encode alone ${encode.toFixed(2)}`);
}

main();
