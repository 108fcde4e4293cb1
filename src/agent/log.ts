/**
 * Structured logs for the node agent: one JSON object per line on stderr
 * (`{"ts":…,"level":"info","msg":"…",…fields}`), so log shippers need no parser.
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Every {@link LogLevel}, for validating `--log-level`. */
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

/** Extra fields of a log line. Errors are logged by their message. */
export type LogFields = Record<string, unknown>;

/** A structured logger. */
export interface Logger {
  /** Detail for debugging: every sync, including those that changed nothing. */
  debug(msg: string, fields?: LogFields): void;
  /** What changed: joined, device made, a sync that changed something. */
  info(msg: string, fields?: LogFields): void;
  /** A problem the agent works around or retries (etcd unreachable, a bad static file). */
  warn(msg: string, fields?: LogFields): void;
  /** A failure that stops the agent or a command. */
  error(msg: string, fields?: LogFields): void;
}

const plain = (v: unknown): unknown => (v instanceof Error ? v.message : v);

/** A logger writing lines at `level` and above to `write` (default: stderr). */
export function jsonLogger(level: LogLevel = 'info', base: LogFields = {}, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = (lvl: LogLevel) => (msg: string, fields: LogFields = {}): void => {
    if (RANK[lvl] < RANK[level]) return;
    write(`${JSON.stringify({ ts: new Date().toISOString(), level: lvl, msg, ...base, ...fields }, (_k, v: unknown) => plain(v))}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
