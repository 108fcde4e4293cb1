/**
 * The error of refused input, shared by the library and every consumer; the
 * library exports it as `rtnl`'s RtnlInputError.
 * @module
 */

/** Input refused before anything was sent to the kernel: nothing was changed. */
export class RtnlInputError extends TypeError {
  override readonly name = 'RtnlInputError';
  /** The argument or field at fault, e.g. `name` or `peer.address`. */
  readonly field: string;

  /** @param field the argument at fault @param message what is wrong with it */
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}
