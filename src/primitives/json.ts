/**
 * Shape checks for parsed JSON and for option objects: the input is
 * untrusted, so every reader checks what it got before using it.
 * @module
 */

/** A parsed JSON object. */
export type Obj = Record<string, unknown>;

/** Whether `v` is a JSON object: not null, not an array. */
export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Whether `v` is a plain object (an object literal or `Object.create(null)`):
 * a Map, a Date or a Buffer has no fields of ours and would read as empty.
 */
export function isPlainObject(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * `v` for an error message: a string quoted, anything else as `String` has
 * it. Never throws (`String` does on `Object.create(null)` and on objects
 * whose `toString` throws).
 */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Whether `v` is an array of strings. */
export function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

