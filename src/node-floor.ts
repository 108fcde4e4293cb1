/**
 * The oldest Node.js rtnl runs on, checked when it starts: on an older one
 * (Debian 12's own is 18) rtnl stops with a message naming both versions
 * instead of failing later on a missing API.
 * @module
 */

/** The oldest Node.js major version rtnl supports; package.json's `engines.node` says the same. */
export const NODE_FLOOR = 20;

/** Why this Node.js cannot run rtnl, or undefined when it can. */
function nodeTooOld(): string | undefined {
  const version = process.versions.node;
  return Number(version.split('.')[0]) >= NODE_FLOOR ? undefined : `rtnl needs Node.js ${NODE_FLOOR} or newer; this is ${version} (${process.execPath})`;
}

/** For the library's entry points: throws when this Node.js is too old. */
export function assertNodeFloor(): void {
  const why = nodeTooOld();
  if (why) throw new Error(why);
}

/** For the executables: prints why on stderr and exits 1 when this Node.js is too old. */
export function exitIfNodeTooOld(tool: string): void {
  const why = nodeTooOld();
  if (!why) return;
  console.error(`${tool}: ${why}`);
  process.exit(1);
}
