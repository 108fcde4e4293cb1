/**
 * `rtnl/primitives`: the small rules every part of rtnl shares, for code of
 * your own beside it (a CNI plugin, a node agent) — IP addresses and
 * prefixes with RFC 5952 text, the kernel's interface-name and MAC rules,
 * shape checks for untrusted JSON, and atomic file replacement. No netlink,
 * no native addon.
 * @module
 */
export * from './file.js';
export * from './ip.js';
export * from './json.js';
export * from './names.js';
