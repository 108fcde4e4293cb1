// Wire fixtures (test/fixtures/*.hex, captured by test/fixtures/capture.sh):
// what iproute2 sent for a command, and rtnl's request for the same compared
// with it byte for byte.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import { type Batch, encodeRequests } from '../src/index.js';

export const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures');

/** One captured request: the command that sent it and its bytes. */
export interface Fixture {
  command: string;
  bytes: Buffer;
  netnsFd?: number;
}

export function fixture(name: string): Fixture {
  const lines = fs.readFileSync(path.join(FIXTURES, `${name}.hex`), 'utf8').split('\n');
  const command = lines[0]!.replace(/^# /, '');
  const fd = lines.find((l) => l.startsWith('# netns-fd '));
  const hex = lines.filter((l) => /^[0-9a-f]+$/.test(l)).join('');
  return { command, bytes: Buffer.from(hex, 'hex'), ...(fd ? { netnsFd: Number(fd.split(' ')[2]) } : {}) };
}

// nlmsg_seq (bytes 8..11) and nlmsg_pid (12..15) differ by construction.
function normalise(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c.fill(0, 8, 16);
  return c;
}

// Shows the first differing offset, which is more useful than two hex walls.
function firstDiff(a: Buffer, b: Buffer): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** rtnl's request made by fill matches the fixture's, after mapping iproute2's bytes through `theirsAs`. */
export function sameRequest(t: Test, name: string, fill: (b: Batch, f: Fixture) => void, theirsAs = (b: Buffer) => b): void {
  const f = fixture(name);
  const ours = normalise(encodeRequests((b) => fill(b, f)));
  const theirs = normalise(theirsAs(f.bytes));
  t.equal(ours.length, theirs.readUInt32LE(0), `${name}: one message, as long as iproute2's`);
  t.equal(firstDiff(ours, theirs), -1, `${name}: byte-identical to \`${f.command}\``);
  t.same(ours.toString('hex'), theirs.toString('hex'), `${name}: hex`);
}
