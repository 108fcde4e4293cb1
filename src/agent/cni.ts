/**
 * The agent's CNI hand-off: a conflist for the node's runtime that puts pods
 * on a bridge with addresses from the node's leased subnet (rtnl-ipam), the
 * bridge holding the gateway. Traffic to other nodes' subnets leaves through
 * the node's routes over the VXLAN device, which the agent programs; so the
 * pods need no overlay knowledge, as with flannel's bridge delegation.
 * @module
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../primitives/file.js';
import type { NetworkConfig, NodeRecord } from './types.js';

/** Where and how the conflist is written. */
export interface CniHandOff {
  /** The runtime's CNI configuration directory, e.g. `/etc/cni/net.d`. */
  confDir: string;
  /** The network name; the file is `<confDir>/10-<name>.conflist`. */
  name: string;
  /** The pods' bridge on the node. */
  bridge: string;
  /** rtnl-ipam's store directory (default: its own, /var/lib/cni/networks). */
  dataDir?: string;
}

/** The conflist file's path. */
export const conflistPath = (c: CniHandOff): string => join(c.confDir, `10-${c.name}.conflist`);

/** The conflist for this node: bridge mode, gateway on the bridge, addresses from the node's subnet. */
export function nodeConflist(c: CniHandOff, self: NodeRecord, net: NetworkConfig, mtu: number): object {
  return {
    cniVersion: '1.1.0', name: c.name,
    plugins: [{
      type: 'rtnl', mode: 'bridge', bridge: c.bridge, isGateway: true, isDefaultGateway: true, mtu,
      ipam: {
        type: 'rtnl-ipam',
        ranges: [[{ subnet: self.subnet }]],
        // The whole cluster network stays reachable through the bridge even if
        // a pod's default route is replaced by a chained plugin.
        routes: [{ dst: net.network }],
        ...(c.dataDir === undefined ? {} : { dataDir: c.dataDir }),
      },
    }],
  };
}

/**
 * Writes the conflist atomically; returns its path. Unchanged content is not
 * rewritten, so a restart does not make runtimes reload their configuration.
 */
export function writeConflist(c: CniHandOff, self: NodeRecord, net: NetworkConfig, mtu: number): string {
  const file = conflistPath(c);
  const text = `${JSON.stringify(nodeConflist(c, self, net, mtu), null, 2)}\n`;
  let old: string | undefined;
  try { old = fs.readFileSync(file, 'utf8'); } catch { /* absent */ }
  if (old === text) return file;
  fs.mkdirSync(c.confDir, { recursive: true });
  writeFileAtomic(file, text);
  return file;
}

/** Removes the conflist (`--cleanup`). */
export function removeConflist(c: CniHandOff): void {
  fs.rmSync(conflistPath(c), { force: true });
}
