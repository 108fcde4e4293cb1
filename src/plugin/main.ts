/**
 * rtnl-cni: the `rtnl` CNI plugin (bridge, vxlan, macvlan, ipvlan modes), run
 * via `bin/rtnl-cni`. Configuration: see {@link loadConfig} in ./config.
 * @module
 */
import { runPlugin } from '../cni/skel.js';
import { rtnlHandlers } from './plugin.js';

void runPlugin(rtnlHandlers);
