// A request on its way to the addon: the op, its validated argument, and the
// object to name in errors. Verbs build these; handles run them.
import { type NativeRequest, opId } from './native.js';

/** @internal A validated request whose result has type T. */
export interface Request<T> {
  readonly native: NativeRequest;
  /** Applied to the addon's result: a filter the kernel does not apply (rule, next-hop and qdisc dumps). */
  readonly post?: (result: never) => unknown;
  /** Phantom: the result type. */
  readonly _result?: T;
}

const ids = new Map<string, number>();

/** @internal */
export function request<T>(op: string, arg: object, object: string, post?: (result: T) => T): Request<T> {
  let id = ids.get(op);
  if (id === undefined) ids.set(op, (id = opId(op)));
  return post ? { native: [id, arg, object], post: post as (result: never) => unknown } : { native: [id, arg, object] };
}
