/**
 * BIRD's control socket, spoken directly (what `birdc` does): a greeting,
 * then one command line and its reply. Reply lines carry a four-digit code
 * (`-` after it: more follow; a space: the last line; a line starting with a
 * space continues the previous code); codes from 8000 are errors. Every
 * exchange is bounded by a timeout.
 * @module
 */
import * as net from 'node:net';

/** A command's reply: the final code and every line's text. */
export interface BirdReply {
  code: number;
  lines: string[];
}

/** BIRD refused a command (a reply code from 8000), or its socket failed or did not answer in time. */
export class BirdControlError extends Error {
  override readonly name = 'BirdControlError';
}

/** How {@link socketExchange} talks: `connected` may write the request; `data` sees every chunk and returns the result once the reply is complete (it may write, and throws to fail). */
export interface Exchange<T> {
  connected?: (s: net.Socket) => void;
  data: (chunk: Buffer, s: net.Socket) => T | undefined;
  /** The error for a socket failure or a timeout, from its message. */
  error: (msg: string) => Error;
  timeoutMs: number;
  /** The request, for error messages. */
  what: string;
}

/** One request and its reply over the unix stream socket `socket` (a daemon's control socket), bounded by a timeout. */
export function socketExchange<T>(socket: string, x: Exchange<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    const done = (e: Error | undefined, r?: T): void => {
      clearTimeout(timer);
      s.destroy();
      if (e) reject(e);
      else resolve(r!);
    };
    const timer = setTimeout(() => done(x.error(`${socket}: no answer to ${x.what} in ${x.timeoutMs} ms`)), x.timeoutMs);
    s.on('error', (e) => done(x.error(`${socket}: ${e.message}`)));
    s.on('close', () => done(x.error(`${socket}: closed before the reply to ${x.what} ended`)));
    if (x.connected) s.on('connect', () => x.connected!(s));
    s.on('data', (d: Buffer) => {
      let r: T | undefined;
      try {
        r = x.data(d, s);
      } catch (e) {
        done(e as Error);
        return;
      }
      if (r !== undefined) done(undefined, r);
    });
  });
}

/** Sends `command` (one line) to the BIRD listening on `socket`; rejects after `timeoutMs` (default 5 s). */
export function birdCommand(socket: string, command: string, timeoutMs = 5000): Promise<BirdReply> {
  if (/[\r\n]/.test(command)) return Promise.reject(new BirdControlError(`a BIRD command is one line: ${JSON.stringify(command)}`));
  const lines: string[] = [];
  let buf = '';
  let greeted = false;
  return socketExchange(socket, {
    timeoutMs, what: JSON.stringify(command), error: (m) => new BirdControlError(m),
    data: (d, s) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(\d{4})([ -])(.*)$/.exec(line);
        if (!greeted) {
          // "0001 BIRD 2.0.12 ready."
          greeted = true;
          s.write(`${command}\n`);
          continue;
        }
        lines.push(m ? m[3]! : line.replace(/^ /, ''));
        if (m && m[2] === ' ') {
          const code = Number(m[1]);
          if (code >= 8000) throw new BirdControlError(`BIRD refused ${JSON.stringify(command)}: ${lines.join(' / ')}`);
          return { code, lines };
        }
      }
      return undefined;
    },
  });
}
