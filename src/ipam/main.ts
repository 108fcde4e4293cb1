/**
 * rtnl-ipam: a host-local-compatible IPAM plugin (run via bin/rtnl-ipam).
 * @module
 */
import { runPlugin } from '../cni/skel.js';
import { ipamHandlers } from './plugin.js';

void runPlugin(ipamHandlers);
