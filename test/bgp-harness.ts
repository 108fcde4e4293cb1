// Shared by the BGP tests, demo and bench: finding the speakers a run started.
import * as fs from 'node:fs';

/** Live bird processes (zombies excluded) whose command line names a file under dir. */
export const birdsUnder = (dir: string): number[] => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
  try {
    const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    return /(^|\/)bird$/.test(argv[0]!) && argv.some((a) => a.startsWith(dir));
  } catch {
    return false;
  }
}).map(Number);
