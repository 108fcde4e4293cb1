/**
 * An FRR daemon's vty socket, spoken directly (what `vtysh` does): the
 * command, NUL-terminated; the reply's text, then three NUL bytes and a
 * status byte (0: success). One command per connection, bounded by a
 * timeout. Only `show` commands are sent: the agent never configures FRR
 * through its vty (the configuration file is the one source).
 * @module
 */
import * as net from 'node:net';

/** The daemon refused a command (non-zero status), or its socket failed or did not answer in time. */
export class FrrVtyError extends Error {
  override readonly name = 'FrrVtyError';
}

/** Sends `command` (one line) to the FRR daemon listening on `socket` and resolves with its output; rejects after `timeoutMs`. */
export function frrCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  if (/[\r\n\0]/.test(command)) return Promise.reject(new FrrVtyError(`an FRR command is one line: ${JSON.stringify(command)}`));
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    const chunks: Buffer[] = [];
    const done = (e: Error | undefined, out?: string): void => {
      clearTimeout(timer);
      s.destroy();
      if (e) reject(e);
      else resolve(out!);
    };
    const timer = setTimeout(() => done(new FrrVtyError(`${socket}: no answer to ${JSON.stringify(command)} in ${timeoutMs} ms`)), timeoutMs);
    s.on('error', (e) => done(new FrrVtyError(`${socket}: ${e.message}`)));
    s.on('close', () => done(new FrrVtyError(`${socket}: closed before the reply to ${JSON.stringify(command)} ended`)));
    s.on('connect', () => s.write(`${command}\0`));
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const n = all.length;
      if (n < 4 || all[n - 4] !== 0 || all[n - 3] !== 0 || all[n - 2] !== 0) return;
      const text = all.subarray(0, n - 4).toString('utf8');
      if (all[n - 1] !== 0) done(new FrrVtyError(`FRR refused ${JSON.stringify(command)} (status ${all[n - 1]}): ${text.trim()}`));
      else done(undefined, text);
    });
  });
}
