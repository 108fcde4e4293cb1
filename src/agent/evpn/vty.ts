/**
 * An FRR daemon's vty socket, spoken directly (what `vtysh` does): the
 * command, NUL-terminated; the reply's text, then three NUL bytes and a
 * status byte (0: success). One command per connection, bounded by a
 * timeout. Only `show` commands are sent: the agent never configures FRR
 * through its vty (the configuration file is the one source).
 * @module
 */
import { socketExchange } from '../bgp/control.js';

/** The daemon refused a command (non-zero status), or its socket failed or did not answer in time. */
export class FrrVtyError extends Error {
  override readonly name = 'FrrVtyError';
}

/** Sends `command` (one line) to the FRR daemon listening on `socket` and resolves with its output; rejects after `timeoutMs`. */
export function frrCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  if (/[\r\n\0]/.test(command)) return Promise.reject(new FrrVtyError(`an FRR command is one line: ${JSON.stringify(command)}`));
  const chunks: Buffer[] = [];
  return socketExchange(socket, {
    timeoutMs, what: JSON.stringify(command), error: (m) => new FrrVtyError(m),
    connected: (s) => s.write(`${command}\0`),
    data: (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const n = all.length;
      if (n < 4 || all[n - 4] !== 0 || all[n - 3] !== 0 || all[n - 2] !== 0) return undefined;
      const text = all.subarray(0, n - 4).toString('utf8');
      if (all[n - 1] !== 0) throw new FrrVtyError(`FRR refused ${JSON.stringify(command)} (status ${all[n - 1]}): ${text.trim()}`);
      return text;
    },
  });
}
