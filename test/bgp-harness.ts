// Shared by the BGP and EVPN tests: finding the speakers a run started.
import * as fs from 'node:fs';

/** Live processes (zombies excluded) of one of `programs` whose command line names a file under dir. */
export const daemonsUnder = (dir: string, programs: readonly string[]): number[] => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
  try {
    const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    return programs.includes(argv[0]!.replace(/^.*\//, '')) && argv.some((a) => a.startsWith(dir));
  } catch {
    return false;
  }
}).map(Number);

/** The bird processes of a run. */
export const birdsUnder = (dir: string): number[] => daemonsUnder(dir, ['bird']);
