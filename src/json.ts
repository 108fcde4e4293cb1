/**
 * rtnl's objects as JSON. Link statistics are 64-bit counters held as
 * `bigint`, which `JSON.stringify` refuses ("Do not know how to serialize a
 * BigInt"); {@link jsonReplacer} writes them as decimal strings, which keeps
 * every digit (a JSON number would round above 2^53).
 * @module
 */

/**
 * A `JSON.stringify` replacer that writes a `bigint` as its decimal string and
 * everything else as `JSON.stringify` would:
 *
 * ```ts
 * JSON.stringify(h.linkList({ stats: true }), jsonReplacer, 2); // "stats": { "rxBytes": "12345678901234", ... }
 * ```
 * Read a counter back with `BigInt(s)`.
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
