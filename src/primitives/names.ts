/**
 * The kernel's rules for the names and addresses a request carries, as
 * predicates: each caller wraps a failure in its own error (RtnlInputError,
 * CniError, UsageError...) naming its own field.
 * @module
 */

/** Longest interface name in bytes: IFNAMSIZ (16) less the terminating NUL. */
export const IFNAME_MAX_BYTES = 15;

/** Largest ifindex: the kernel keeps it in an int. */
export const IFINDEX_MAX = 0x7fffffff;

/**
 * What is wrong with `name` as an interface name, by the kernel's
 * dev_valid_name(); undefined when it is valid. It judges bytes, as the
 * kernel does: at most 15 of UTF-8, none of `/`, `:` or what the kernel's
 * isspace() matches — tab to CR, space, and 0xA0 (Latin-1's no-break space),
 * which is a byte of some UTF-8 characters (`à`, U+00A0). NUL is refused
 * too: the kernel reads a C string, so `br0\0x` would name br0.
 */
export function ifnameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (Buffer.byteLength(name) > IFNAME_MAX_BYTES) return `is longer than ${IFNAME_MAX_BYTES} bytes (IFNAMSIZ - 1)`;
  if (name === '.' || name === '..') return 'is "." or ".."';
  for (const ch of name) {
    const c = ch.charCodeAt(0);
    if (ch === '/' || ch === ':') return `contains "${ch}"`;
    if (c === 0) return 'contains a NUL byte';
    if ((c >= 9 && c <= 13) || c === 32) return 'contains whitespace';
    if (c > 0x7f && Buffer.from(ch).includes(0xa0)) return `contains ${JSON.stringify(ch)}, whose UTF-8 has the byte 0xA0, a space to the kernel`;
  }
  return undefined;
}

/** Whether `v` is a valid interface name (see {@link ifnameProblem}). */
export function isIfname(v: unknown): v is string {
  return typeof v === 'string' && ifnameProblem(v) === undefined;
}

/** Whether `v` is an ifindex: an integer from 1 to {@link IFINDEX_MAX}. */
export function isIfindex(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= IFINDEX_MAX;
}

/**
 * What is wrong with `s` as a string the kernel reads as a C string in a
 * buffer of `maxBytes` (without the NUL); undefined when it fits.
 */
export function cStringProblem(s: string, maxBytes: number): string | undefined {
  if (Buffer.byteLength(s) > maxBytes) return `longer than ${maxBytes} bytes`;
  if (s.includes('\0')) return 'contains a NUL byte (the kernel would cut the string there)';
  return undefined;
}

/** Longest file name in bytes (NAME_MAX). */
export const NAME_MAX_BYTES = 255;

/**
 * Whether `v` can be one path component: a file name in a directory (a
 * namespace under /run/netns, a network's store directory, a plugin in
 * CNI_PATH). Not empty, `.` or `..`; no `/` or NUL; at most 255 bytes.
 */
export function isFileName(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && v !== '.' && v !== '..' && !/[/\0]/.test(v) && Buffer.byteLength(v) <= NAME_MAX_BYTES;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Whether `v` is an Ethernet MAC address in colon form, e.g. `02:00:00:00:00:01` (either case). */
export function isMac(v: unknown): v is string {
  return typeof v === 'string' && MAC_RE.test(v);
}

/**
 * The locally administered unicast MAC made of the first 6 of `bytes` (a
 * hash, random bytes): their group bit cleared and local bit set, in colon
 * form, lower case.
 */
export function localMac(bytes: ArrayLike<number>): string {
  const b = Array.from({ length: 6 }, (_, i) => (bytes[i] ?? 0) & 0xff);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Whether `v` is a MAC that can name one station: well formed, the group
 * (multicast/broadcast) bit clear, and not all zeros (which a VXLAN FDB
 * reads as the flood entry).
 */
export function isUnicastMac(v: unknown): v is string {
  return isMac(v) && (parseInt(v.slice(0, 2), 16) & 1) === 0 && !/^00(:00){5}$/.test(v);
}
