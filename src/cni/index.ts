/// <reference types="node" preserve="true" />
// (The declarations use NodeJS.ProcessEnv: a consumer's program gets Node's types without "types": ["node"].)
/**
 * rtnl/cni: the CNI exec protocol for plugins built on rtnl — types, env and
 * config parsing, results per spec version, the plugin skeleton and IPAM
 * delegation. Needs no netlink.
 * @module
 */
import { assertNodeFloor } from '../node-floor.js';
assertNodeFloor();
export * from './types.js';
export { compareVersions, isSupportedVersion, parseCniArgs, parseEnv, parseConfig, parseResult, parseRoute, parseDns, convertResult, parseAttachments, type VersionedResult } from './protocol.js';
export type { Obj } from '../primitives/json.js';
export { runPlugin, invokePlugin, pluginMain, versionAnswer, type PluginHandlers, type HandlersOrLoader, type PluginContext, type GcContext, type PluginOptions, type PluginOutcome, type Maybe } from './skel.js';
export { delegateOutcome, execIpam, findPlugin } from './exec.js';
