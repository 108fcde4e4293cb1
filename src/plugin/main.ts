/**
 * rtnl-cni: the `rtnl` CNI plugin (bridge, vxlan, macvlan, ipvlan modes), run
 * via `bin/rtnl-cni`. Configuration: see {@link loadConfig} in ./config.
 * @module
 */
import { pluginMain } from '../cni/index.js';

// Loaded once a command needs them: VERSION answers without netlink's modules.
void pluginMain('rtnl-cni', 'rtnl', () => (require('./plugin.js') as typeof import('./plugin.js')).rtnlHandlers);
