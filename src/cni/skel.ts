/**
 * The plugin skeleton: one call a plugin's main makes with its handlers; it
 * parses the environment and stdin, dispatches, and prints the result or the
 * spec's error JSON.
 * @module
 */
import { readFileSync, writeSync } from 'node:fs';
import { convertResult, isSupportedVersion, parseAttachments, parseConfig, parseEnv } from './protocol.js';
import {
  CURRENT_VERSION, CniError, CniErrorCode, SUPPORTED_VERSIONS,
  type CniAttachment, type CniEnv, type CniResult, type CniVersion, type NetConf,
} from './types.js';

/** What a handler receives. */
export interface PluginContext {
  env: CniEnv;
  /** The validated config; `prevResult` converted to the 1.1.0 shape. */
  conf: NetConf;
  /** The config exactly as received: hand this to a delegated (IPAM) plugin. */
  raw: Record<string, unknown>;
  /**
   * The environment exactly as received: hand this to a delegated plugin too
   * (not `process.env`: a resident process serves invocations with their own).
   */
  vars: Record<string, string | undefined>;
}

/** What a GC handler receives: the attachments to keep. */
export interface GcContext extends PluginContext {
  validAttachments: CniAttachment[];
}

/** A handler may answer directly or with a Promise. */
export type Maybe<T> = T | Promise<T>;

/**
 * A plugin's handlers. ADD returns the result (1.1.0 shape; converted to the
 * config's version when printed). A missing CHECK/STATUS/GC handler succeeds.
 * Throw {@link CniError} for a spec error; any other error is printed as code 999.
 */
export interface PluginHandlers {
  /** ADD: attach the container; return the result. */
  add(ctx: PluginContext): Maybe<CniResult>;
  /** DEL: detach; must succeed when things are already gone. */
  del(ctx: PluginContext): Maybe<void>;
  /** CHECK: verify the attachment against `prevResult`. */
  check?(ctx: PluginContext): Maybe<void>;
  /** STATUS: throw (code 50/51) when the plugin cannot serve ADDs. */
  status?(ctx: PluginContext): Maybe<void>;
  /** GC: release everything not in `ctx.validAttachments`. */
  gc?(ctx: GcContext): Maybe<void>;
  /**
   * ADD succeeded but its result could not be delivered (the caller died:
   * EPIPE on stdout): release what ADD took, since no one will ever learn of it.
   */
  undoAdd?(ctx: PluginContext, result: CniResult): Maybe<void>;
}

/** Options of {@link invokePlugin}. */
export interface PluginOptions {
  /** Versions this plugin accepts (default: all of {@link SUPPORTED_VERSIONS}). */
  versions?: readonly CniVersion[];
}

/** What one invocation produced: what to print and the exit code. */
export interface PluginOutcome {
  stdout: string;
  exitCode: number;
  /** For a successful ADD with an `undoAdd` handler: call it when `stdout` cannot be delivered. */
  undo?: () => Maybe<void>;
}

/** Code for errors that are not CniErrors (as Go's skel: "internal"). */
const INTERNAL = 999;

/** The config's cniVersion when it is one we speak. */
function askedVersion(stdin: string): CniVersion | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
    return isSupportedVersion(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What VERSION prints for `stdin`: the versions a plugin supports, in the
 * config's cniVersion when it is one of them (else the newest we speak).
 * The installed launchers answer VERSION with this text (see ../plugin/install).
 */
export function versionAnswer(stdin: string, versions: readonly CniVersion[] = SUPPORTED_VERSIONS): string {
  return JSON.stringify({ cniVersion: askedVersion(stdin) ?? CURRENT_VERSION, supportedVersions: versions });
}

/**
 * The handlers, or a function returning them: called only once a command
 * needs them, so VERSION and refused calls never load a plugin's modules.
 */
export type HandlersOrLoader = PluginHandlers | (() => PluginHandlers);

/** Runs one invocation without touching the process: for tests and embedding. */
export async function invokePlugin(
  handlers: HandlersOrLoader, env: Record<string, string | undefined>, stdin: string, options: PluginOptions = {},
): Promise<PluginOutcome> {
  const versions = options.versions ?? SUPPORTED_VERSIONS;
  // Answer (and fail) in the runtime's version when it told us one we speak.
  const errVersion = askedVersion(stdin) ?? CURRENT_VERSION;
  try {
    const penv = parseEnv(env);
    if (penv.command === 'VERSION') return { stdout: versionAnswer(stdin, versions), exitCode: 0 };
    const { conf, raw } = parseConfig(stdin, penv.command);
    if (!versions.includes(conf.cniVersion)) {
      throw new CniError(CniErrorCode.IncompatibleVersion, 'incompatible CNI versions', `config is "${conf.cniVersion}", plugin supports [${versions.join(' ')}]`);
    }
    const ctx: PluginContext = { env: penv, conf, raw, vars: env };
    const h = typeof handlers === 'function' ? handlers() : handlers;
    switch (penv.command) {
      case 'ADD': {
        const result = await h.add(ctx);
        const undoAdd = h.undoAdd?.bind(h);
        return { stdout: JSON.stringify(convertResult(result, conf.cniVersion)), exitCode: 0, ...(undoAdd ? { undo: () => undoAdd(ctx, result) } : {}) };
      }
      case 'DEL': await h.del(ctx); break;
      case 'CHECK': await h.check?.(ctx); break;
      case 'STATUS': await h.status?.(ctx); break;
      case 'GC': await h.gc?.({ ...ctx, validAttachments: parseAttachments(raw) }); break;
    }
    return { stdout: '', exitCode: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(INTERNAL, e instanceof Error ? e.message : String(e));
    return { stdout: JSON.stringify(err.toJSON(errVersion)), exitCode: 1 };
  }
}

/**
 * The plugin main: reads the config from stdin and the CNI_* environment,
 * calls the handler for CNI_COMMAND, prints the result or the error JSON on
 * stdout and sets the exit code. Resolves when done.
 */
export async function runPlugin(handlers: HandlersOrLoader, options: PluginOptions = {}): Promise<void> {
  let stdin = '';
  // VERSION may come with nothing on stdin; every other command needs the config.
  try {
    stdin = readFileSync(0, 'utf8');
  } catch (e) {
    if (process.env.CNI_COMMAND !== 'VERSION') {
      const err = new CniError(CniErrorCode.IoFailure, 'failed to read the network config from stdin', (e as Error).message);
      process.exitCode = 1;
      await writeAll(1, JSON.stringify(err.toJSON())).catch(() => undefined);
      return;
    }
  }
  const out = await invokePlugin(handlers, process.env, stdin, options);
  process.exitCode = out.exitCode;
  try {
    await writeAll(1, out.stdout);
  } catch {
    process.exitCode = 1;
    await out.undo?.();
  }
}

/**
 * The main of a plugin executable run either by a runtime or by a person.
 * With no arguments and CNI_COMMAND set (how runtimes call plugins), runs
 * the plugin. Run by hand: `--help` (usage on stdout), `--version`, any
 * other argument a usage error (exit 2); with neither arguments nor
 * CNI_COMMAND, like the reference plugins' skeleton: the plugin's name and
 * version and the CNI versions it supports, on stderr, exit 0.
 * @param tool the executable's name, e.g. `rtnl-cni`
 * @param plugin the plugin's name (its `type`), e.g. `rtnl`
 */
export async function pluginMain(tool: string, plugin: string, handlers: HandlersOrLoader, options: PluginOptions = {}): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.length === 0 && process.env.CNI_COMMAND) return runPlugin(handlers, options);
  // Loaded only here: a runtime's call never reads the command-line module (nor package.json).
  const cli = require('../cli.js') as typeof import('../cli.js');
  const aboutText = `CNI ${plugin} plugin v${cli.VERSION}\nCNI protocol versions supported: ${(options.versions ?? SUPPORTED_VERSIONS).join(', ')}\n`;
  try {
    const r = cli.parseCommandLine(argv, {});
    if (r.kind === 'help') {
      process.stdout.write(`usage: ${tool} [--help | --version]\n\nA CNI plugin: a container runtime runs it with CNI_COMMAND and the other CNI_*\nvariables in its environment and the network config on stdin.\n${aboutText}`);
    } else if (r.kind === 'version') {
      process.stdout.write(`${cli.versionLine(tool)}\n`);
    } else {
      process.stderr.write(aboutText);
    }
  } catch (e) {
    if (!(e instanceof cli.UsageError)) throw e;
    process.stderr.write(`${tool}: ${e.message}\nusage: ${tool} [--help | --version]\n`);
    process.exitCode = 2;
  }
}

/**
 * Writes `text` to `fd` with write(2), not a stream: a dead reader shows up
 * here as EPIPE instead of an uncaught stream 'error', and process.stdout
 * would load more of Node than a whole plugin run otherwise needs. EAGAIN (a
 * non-blocking fd handed down by the caller) is waited out.
 */
async function writeAll(fd: number, text: string): Promise<void> {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}
