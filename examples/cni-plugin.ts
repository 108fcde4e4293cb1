// A minimal CNI plugin on rtnl/cni: answers VERSION, and ADD with a fixed
// address (a real plugin would create the pod's interface with rtnl and ask its
// IPAM). Install it as a CNI plugin: node cni-plugin.js, run by the runtime.
import { runPlugin, type CniResult } from 'rtnl/cni';
import { parseCidr, withPrefix } from 'rtnl/primitives';

// The address in the text every CNI tool prints (RFC 5952 for IPv6).
const pod = parseCidr('10.99.0.2/24')!;

void runPlugin({
  add: ({ env }): CniResult => ({
    cniVersion: '1.1.0',
    interfaces: [{ name: env.ifname, sandbox: env.netns }],
    ips: [{ address: withPrefix(pod.addr, pod.cidr.prefix), interface: 0 }],
  }),
  del: () => undefined,
});
