/**
 * One way to read every rtnl command line: `node:util` `parseArgs` in strict
 * mode (an unknown flag or a missing value is an error naming it), plus the
 * `--help` and `--version` that every tool answers the same way.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** A command-line error: the tool prints it with its usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** rtnl's version, from its package.json (dist/src/cli.js is two levels below it). */
export const VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

/** A flag: `string` takes a value, `boolean` does not; `multiple` may repeat. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
}

/** What a command line asked for: help, the version, or a run with these values. */
export type Parsed<V> =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; values: V; positionals: string[] };

/**
 * Parses `argv` (without node and the script) against `flags`; `-h/--help`
 * and `--version` are added. Throws {@link UsageError} on anything else
 * that is not in `flags`, and on positionals unless `positionals` allows them.
 */
export function parseCommandLine<V extends Record<string, string | boolean | string[] | undefined>>(
  argv: readonly string[], flags: Record<string, FlagSpec>, positionals = false,
): Parsed<V> {
  let r;
  try {
    r = parseArgs({
      args: [...argv],
      options: { ...flags, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      strict: true,
      allowPositionals: positionals,
    });
  } catch (e) {
    // parseArgs' messages name the flag; drop its hint about '--' (our tools take no such operands).
    throw new UsageError((e as Error).message.replace(/\s*To specify a positional argument.*$/s, ''));
  }
  const { help, version, ...values } = r.values as Record<string, unknown>;
  if (help) return { kind: 'help' };
  if (version) return { kind: 'version' };
  return { kind: 'run', values: values as V, positionals: r.positionals };
}

/** An integer flag's value, from `min` to `max`; otherwise a {@link UsageError} naming the flag. */
export function intFlag(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`${flag}: ${JSON.stringify(v)} is not an integer from ${min} to ${max}`);
  return n;
}

/** The line every tool prints for `--version`. */
export function versionLine(tool: string): string {
  return `${tool} ${VERSION} (rtnl, Node.js ${process.version})`;
}
