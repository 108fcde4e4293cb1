// The C reference (bench/cref.c, libmnl): built once per bench run with gcc
// into build/, run inside a namespace; it times its own work, so process
// start-up is not billed to it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Netns } from '../src/index.js';
import { childEnv } from './lib.js';

const SRC = path.join(__dirname, '..', '..', 'bench', 'cref.c');
const BIN = path.join(__dirname, '..', '..', 'build', 'cref');

/** Compiles bench/cref.c (needs gcc and Debian's libmnl-dev) unless the binary is newer than the source. */
export function buildCref(): void {
  if (fs.existsSync(BIN) && fs.statSync(BIN).mtimeMs >= fs.statSync(SRC).mtimeMs) return;
  fs.mkdirSync(path.dirname(BIN), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-o', BIN, SRC, '-lmnl'], { stdio: 'inherit' });
}

/** Runs `cref args...` inside ns (the child inherits the calling thread's namespace) and parses its JSON line. */
export function cref<T>(ns: Netns | undefined, args: readonly (string | number)[]): T {
  const run = () => execFileSync(BIN, args.map(String), { encoding: 'utf8', env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(ns ? ns.run(run) : run()) as T;
}

/** The two C methods every bench compares with. */
export const C_MODES = ['sync', 'pipe'] as const;
