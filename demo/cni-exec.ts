// The runtime's side of a CNI call, for the demos whose conflists hold one
// plugin: the plugin exec'd inside the node's namespace with CNI_* in its
// environment and its configuration on stdin, as containerd or podman do.
import { spawnSync } from 'node:child_process';
import type { Netns } from '../src/index.js';

const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

/** The first plugin of `list` for pod `pod` (a namespace under /run/netns), run in `node`; returns its JSON result. */
export function cniExec(cmd: 'ADD' | 'DEL', list: { name: string; cniVersion: string; plugins: Array<{ type: string }> }, node: Netns, pod: string, cniPath: string): any {
  const conf = { ...list.plugins[0]!, name: list.name, cniVersion: list.cniVersion };
  let out = '';
  node.run(() => {
    const r = spawnSync(`${cniPath}/${conf.type}`, {
      input: JSON.stringify(conf), encoding: 'utf8',
      env: { ...env, CNI_COMMAND: cmd, CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: 'eth0', CNI_PATH: cniPath },
    });
    if (r.status !== 0) throw new Error(`CNI ${cmd} ${pod}: ${r.stdout}${r.stderr}`);
    out = r.stdout;
  });
  return out ? JSON.parse(out) : undefined;
}
