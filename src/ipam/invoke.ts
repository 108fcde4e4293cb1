/**
 * IPAM delegation without a second process where it can be done: rtnl-ipam
 * runs inside the calling plugin, through the same skeleton and with the same
 * inputs and outputs as its executable (env, config JSON, stdout + exit code),
 * so results, errors and the store are exactly what exec'ing it gives — minus
 * one Node.js start-up, which dominates a plugin's run. Any other IPAM type is
 * exec'd through CNI_PATH.
 * @module
 */
import { delegateOutcome, execIpam, invokePlugin, type CniCommand, type CniResult } from '../cni/index.js';

/** The IPAM type that {@link invokeIpam} runs in-process: rtnl-ipam's own. */
export const IPAM_TYPE = 'rtnl-ipam';

/**
 * Runs rtnl-ipam in this process as its executable would run for
 * CNI_COMMAND=`command`, `config` on stdin and environment `env`. ADD resolves
 * to the parsed result (1.1.0 shape), other commands to undefined; an error is
 * the CniError the executable would have printed. Never touches process.stdout
 * or the exit code.
 */
export function runIpam(command: 'ADD', config: object, env?: NodeJS.ProcessEnv): Promise<CniResult>;
export function runIpam(command: CniCommand, config: object, env?: NodeJS.ProcessEnv): Promise<CniResult | undefined>;
export async function runIpam(command: CniCommand, config: object, env: NodeJS.ProcessEnv = process.env): Promise<CniResult | undefined> {
  // Loaded on use: a plugin delegating to another IPAM never needs it.
  const { ipamHandlers } = require('./plugin.js') as typeof import('./plugin.js');
  const out = await invokePlugin(ipamHandlers, { ...env, CNI_COMMAND: command }, JSON.stringify(config));
  return delegateOutcome(IPAM_TYPE, command, out.exitCode, null, out.stdout);
}

/**
 * Runs IPAM plugin `type` as {@link execIpam} does: {@link runIpam} in this
 * process when `type` is {@link IPAM_TYPE}, else the executable found in
 * CNI_PATH.
 */
export function invokeIpam(type: string, command: 'ADD', config: object, env?: NodeJS.ProcessEnv): Promise<CniResult>;
export function invokeIpam(type: string, command: CniCommand, config: object, env?: NodeJS.ProcessEnv): Promise<CniResult | undefined>;
export function invokeIpam(type: string, command: CniCommand, config: object, env: NodeJS.ProcessEnv = process.env): Promise<CniResult | undefined> {
  return type === IPAM_TYPE ? runIpam(command, config, env) : execIpam(type, command, config, env);
}
