/**
 * Delegation: running another plugin (typically IPAM) the way runtimes do —
 * found by type in CNI_PATH, same environment with CNI_COMMAND set, the config
 * on stdin, the result or error JSON read back from stdout.
 * @module
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { isFileName } from '../primitives/names.js';
import { parseResult } from './protocol.js';
import { CniError, CniErrorCode, type CniCommand, type CniResult } from './types.js';

/** Finds executable `type` in the directories of `cniPath` (':'-separated); undefined when absent. */
export function findPlugin(type: string, cniPath: string): string | undefined {
  if (!isFileName(type)) return undefined;
  for (const dir of cniPath.split(':').filter(Boolean)) {
    const file = join(dir, type);
    try {
      if (statSync(file).isFile()) {
        accessSync(file, constants.X_OK);
        return file;
      }
    } catch { /* not here */ }
  }
  return undefined;
}

/** Code for a delegate's failure that came without the spec's error JSON. */
const INTERNAL = 999;

/**
 * What a delegated plugin's run means, from its exit code (`null` with the
 * signal that killed it) and stdout: for ADD the parsed result (1.1.0 shape),
 * for other commands undefined; a failure throws the CniError it printed.
 * Shared by {@link execIpam} and in-process delegates, so both answer alike.
 */
export function delegateOutcome(type: string, command: CniCommand, code: number | null, signal: NodeJS.Signals | null, out: string): CniResult | undefined {
  let json: unknown;
  try { json = out.trim() ? JSON.parse(out) : undefined; } catch { json = undefined; }
  if (code !== 0) {
    const e = json as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    if (e && typeof e.code === 'number' && typeof e.msg === 'string') throw new CniError(e.code, e.msg, typeof e.details === 'string' ? e.details : undefined);
    throw new CniError(INTERNAL, `${type} ${command} failed`, signal ? `killed by ${signal}` : `exit code ${code}: ${out.trim()}`);
  }
  if (command !== 'ADD') return undefined;
  if (json === undefined) throw new CniError(CniErrorCode.DecodingFailure, `${type} ADD printed no JSON result`, out.trim());
  return parseResult(json, `${type} result`);
}

/**
 * Runs the IPAM plugin `type` with CNI_COMMAND=`command`, `config` on stdin and
 * `env` (default: this process's environment, which carries the runtime's CNI_*
 * variables). ADD resolves to the parsed result (1.1.0 shape); other commands
 * resolve to undefined. A delegate's error JSON is rethrown as that CniError.
 */
export function execIpam(type: string, command: 'ADD', config: object, env?: NodeJS.ProcessEnv): Promise<CniResult>;
export function execIpam(type: string, command: CniCommand, config: object, env?: NodeJS.ProcessEnv): Promise<CniResult | undefined>;
export function execIpam(type: string, command: CniCommand, config: object, env: NodeJS.ProcessEnv = process.env): Promise<CniResult | undefined> {
  const cniPath = env.CNI_PATH ?? '';
  const file = findPlugin(type, cniPath);
  if (!file) return Promise.reject(new CniError(CniErrorCode.InvalidNetworkConfig, `failed to find plugin "${type}" in path [${cniPath}]`));
  // Loaded here, not at the top: a plugin whose IPAM runs in-process never needs it (start-up dominates a plugin run).
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env: { ...env, CNI_COMMAND: command }, stdio: ['pipe', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', (e) => reject(new CniError(CniErrorCode.IoFailure, `failed to run ${file}`, e.message)));
    child.on('close', (code, signal) => {
      try { resolve(delegateOutcome(type, command, code, signal, Buffer.concat(chunks).toString('utf8'))); } catch (e) { reject(e); }
    });
    // The child may exit before reading stdin (e.g. VERSION): ignore EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(config));
  });
}
