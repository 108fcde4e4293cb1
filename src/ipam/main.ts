/**
 * rtnl-ipam: a host-local-compatible IPAM plugin, run via `bin/rtnl-ipam`.
 *
 * Configuration (the `ipam` section of the network config):
 * ```jsonc
 * {
 *   "type": "rtnl-ipam",
 *   "ranges": [                                   // one address per range set
 *     [{ "subnet": "10.1.0.0/24", "rangeStart": "10.1.0.10", "rangeEnd": "10.1.0.200", "gateway": "10.1.0.1" }],
 *     [{ "subnet": "fd00:1::/64" }]
 *   ],
 *   "routes": [{ "dst": "0.0.0.0/0" }, { "dst": "10.2.0.0/16", "gw": "10.1.0.254" }],
 *   "dataDir": "/var/lib/cni/networks",         // default; the store is <dataDir>/<network name>/
 *   "resolvConf": "/etc/resolv.conf",           // optional: result dns from this file
 *   "allocation": "sequential"                  // or "random" (large IPv6 blocks)
 * }
 * ```
 * Legacy single range: `subnet`, `rangeStart`, `rangeEnd`, `gateway` directly in `ipam`.
 * Defaults per range: rangeStart = network+1, rangeEnd = last address (IPv4:
 * broadcast-1), gateway = network+1; the gateway, network and IPv4 broadcast
 * addresses are never handed out. Requested addresses: CNI_ARGS `IP=a[,b]`,
 * `args.cni.ips`, `runtimeConfig.ips` (each served by the range set holding it).
 * Errors: 100 range set exhausted, 101 requested address unavailable,
 * 102 CHECK found no (or another) allocation; STATUS answers 50 when a range
 * set is exhausted or the store is not writable.
 * @module
 */
import { pluginMain } from '../cni/index.js';

// Loaded once a command needs them: VERSION answers with the skeleton alone.
void pluginMain('rtnl-ipam', 'rtnl-ipam', () => (require('./plugin.js') as typeof import('./plugin.js')).ipamHandlers);
