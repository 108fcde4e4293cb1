/**
 * `rtnl/agent`: the node agent's building blocks, for node agents of your
 * own — subnet leases and membership in etcd, static-file membership, the
 * record validator and policy, and the dataplane backends that keep a
 * node's routes equal to the membership (the VXLAN overlay, host-gw routes;
 * their pure planners), and the EVPN role that runs a node's FRR.
 * `bin/rtnl-agent` is these pieces wired together ({@link Agent}).
 * @module
 */
export type { Candidate, Members, Membership, NetworkConfig, NodeRecord, RejectedRecord } from './types.js';
export { Agent, cleanup, vtepMacFor } from './agent.js';
export { type AgentOptions, type Command, type Source, USAGE, parseCommand } from './cli.js';
export { UsageError } from '../cli.js';
export { type CniHandOff, conflistPath, nodeConflist } from './cni.js';
export { type LogFields, type LogLevel, type Logger, jsonLogger } from './log.js';
export { type AgentStatus, type SyncSummary, DEFAULT_STATE_DIR, StateDir } from './state.js';
export * from './backend.js';
export * from './backends.js';
export * from './bgp/index.js';
export { EVPN_USAGE, type EvpnFlags, type EvpnSettings, evpnPathspace, evpnSettings } from './evpn/flags.js';
export * from './evpn/role.js';
export * from './evpn/vty.js';
export * from './drift.js';
export * from './hostgw.js';
export * from './lease.js';
export * from './overlay.js';
export { type Plan, type PlanCounts, type Request, type RequestOp, type VxlanDump, planHostGw, planVxlan, vtepOf } from './plan.js';
export * from './policy.js';
export { Reconciler } from './reconciler.js';
export { checkNodeRecord, isVtepMac } from './record.js';
export * from './registry.js';
export * from './static.js';
export * from '../etcd/index.js';
