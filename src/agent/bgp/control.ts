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

/** Sends `command` (one line) to the BIRD listening on `socket`; rejects after `timeoutMs` (default 5 s). */
export function birdCommand(socket: string, command: string, timeoutMs = 5000): Promise<BirdReply> {
  if (/[\r\n]/.test(command)) return Promise.reject(new BirdControlError(`a BIRD command is one line: ${JSON.stringify(command)}`));
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    const lines: string[] = [];
    let buf = '';
    let greeted = false;
    const done = (e: Error | undefined, r?: BirdReply): void => {
      clearTimeout(timer);
      s.destroy();
      if (e) reject(e);
      else resolve(r!);
    };
    const timer = setTimeout(() => done(new BirdControlError(`${socket}: no answer to ${JSON.stringify(command)} in ${timeoutMs} ms`)), timeoutMs);
    s.on('error', (e) => done(new BirdControlError(`${socket}: ${e.message}`)));
    s.on('close', () => done(new BirdControlError(`${socket}: closed before the reply to ${JSON.stringify(command)} ended`)));
    s.on('data', (d: Buffer) => {
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
          if (code >= 8000) done(new BirdControlError(`BIRD refused ${JSON.stringify(command)}: ${lines.join(' / ')}`));
          else done(undefined, { code, lines });
          return;
        }
      }
    });
  });
}
