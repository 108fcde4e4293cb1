/**
 * The backends `rtnl-agent --backend` can run, by name.
 * @module
 */
import type { BackendKind, BackendType } from './backend.js';
import { BgpBackend } from './bgp/backend.js';
import { HostGw } from './hostgw.js';
import { Overlay } from './overlay.js';

/** Each available backend's {@link BackendType}; `vxlan` is the default. */
export const BACKENDS: { readonly [K in BackendKind]?: BackendType } = {
  'vxlan': { needsVtepMac: true, create: (o) => Overlay.fromBackendOptions(o) },
  'host-gw': { needsVtepMac: false, create: (o) => HostGw.fromBackendOptions(o) },
  'bgp': { needsVtepMac: false, create: (o) => BgpBackend.fromBackendOptions(o) },
};
