/**
 * Errors raised by rtnl: {@link NetlinkError} for anything the kernel (or a
 * namespace syscall) refused, {@link RtnlInputError} for bad input caught
 * before anything was sent.
 * @module
 */

/** A refusal from the kernel: errno, the operation, the object it concerned, and the kernel's own words. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** The errno name, e.g. `EEXIST`, `ENODEV`, `EOPNOTSUPP`. */
  readonly code: string;
  /** The errno number. */
  readonly errno: number;
  /** The operation that failed, e.g. `linkAdd`. */
  readonly op: string;
  /** The object the operation concerned, e.g. a link name; empty when there is none. */
  readonly object: string;
  /** The kernel's extended-ack message, e.g. `vxlan: destination port in use`. */
  readonly extack: string | undefined;
  /** Byte offset of the offending attribute in the request, when the kernel reported one. */
  readonly extackOffset: number | undefined;

  /** @internal Built by the native addon. */
  constructor(code: string, errno: number, detail: string, op: string, object: string, extack?: string, extackOffset?: number) {
    super(`${op}${object ? ` ${object}` : ''}: ${code} (${detail})${extack && extack !== detail ? `: ${extack}` : ''}`);
    this.code = code;
    this.errno = errno;
    this.op = op;
    this.object = object;
    this.extack = extack;
    this.extackOffset = extackOffset;
  }
}

export { RtnlInputError } from './primitives/input-error.js';
