/// <reference types="node" preserve="true" />
// (The declarations use Node's Buffer and EventEmitter: a consumer's program gets Node's types without "types": ["node"].)
/**
 * rtnl: rtnetlink for TypeScript. Start with {@link Handle}.
 * @module rtnl
 */
import { assertNodeFloor } from './node-floor.js';
assertNodeFloor();
export { NetlinkError, RtnlInputError } from './errors.js';
export { Handle, AsyncHandle, Batch, type BatchResult, getDefaultHandle, encodeRequests, assertBatch } from './handle.js';
export { Verbs, type Mode, type Out } from './verbs.js';
export * from './link.js';
export * from './link-kinds.js';
export { Netns, type NsRef, NETNS_RUN_DIR, createNetns, deleteNetns, openNetns, currentNetns, listNetns, runInNetns, threadNetnsInode } from './netns.js';
export * from './neigh.js';
export * from './fdb.js';
export * from './events.js';
export * from './addr.js';
export * from './route.js';
export * from './rule.js';
export * from './nexthop.js';
export * from './tc.js';
export * from './tc-filter.js';
export { jsonReplacer } from './json.js';
