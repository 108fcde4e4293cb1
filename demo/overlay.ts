// The README's main demo: a three-node VXLAN overlay with two pods per node,
// built only through rtnl inside the sandbox. It proves pod-to-pod
// reachability across nodes (ping, and a TCP echo that sees the pod's own
// address: no NAT), prints what it built and how long each pod's setup took
// through rtnl and through `ip`, then cleans up.
import { Cluster, ping, tcpEcho } from './cluster.js';

const NODES = 3;
const PODS = 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const c = new Cluster('demo');
  try {
    c.underlay();
    for (let i = 1; i <= NODES; i++) c.addNode(i);
    for (const n of c.nodes) for (let j = 1; j <= PODS; j++) c.addPod(n, j);
    for (const n of c.nodes) c.syncPeers(n);

    console.log(`${NODES} nodes on a veth underlay, VXLAN vni 1 dstport 4789 without learning, ${PODS} pods each:\n`);
    for (const n of c.nodes) {
      const vx = n.h.linkGet('vxlan0');
      console.log(`${n.name}  vxlan0 ${vx.address} local ${vx.kind === 'vxlan' ? vx.local : '?'}  pods: ${n.pods.map((p) => `${p.name} ${p.ip}`).join(', ')}`);
      for (const r of n.h.routeList({ link: n.vxlan, family: 4 })) console.log(`  route ${r.dst} via ${r.gateway} dev vxlan0 ${(r.flags ?? []).join(' ')}`);
      for (const e of n.h.neighList({ link: n.vxlan, family: 4 })) console.log(`  neigh ${e.address} lladdr ${e.lladdr} ${e.state}`);
      for (const f of n.h.fdbList({ link: n.vxlan })) console.log(`  fdb   ${f.mac} dst ${f.dst} ${f.state}`);
    }

    const from = c.nodes[0]!.pods[0]!;
    console.log(`\nFrom ${from.name} (${from.ip}):`);
    for (const n of c.nodes.slice(1)) for (const p of n.pods) console.log(`  ping ${p.ip} (${p.name}): ${ping(from.name, p.ip)} ms`);
    const to = c.nodes[2]!.pods[1]!;
    const seen = await tcpEcho(from.name, to.name, to.ip);
    console.log(`  TCP echo ${to.ip}:7777 answered; the server saw the client as ${seen}${seen === from.ip ? ' (its pod address: no NAT)' : ' (NAT?)'}`);

    const rtnlUs = c.nodes.flatMap((n) => n.pods.map((p) => p.setupUs));
    // As many pods through ip as through rtnl (PODS per node), so the two medians compare like with like.
    const ipUs = c.nodes.flatMap((n) => Array.from({ length: PODS }, (_, k) => c.podViaIp(n, 8 + k)));
    console.log('\nPod setup (netns + veth into cni0 with eth0 made in the pod + lo/eth0 up + address + default route):');
    console.log(`  through rtnl:            ${rtnlUs.map((u) => `${Math.round(u)} µs`).join(', ')}`);
    console.log(`  through ip, per step:    ${ipUs.map((u) => `${Math.round(u)} µs`).join(', ')}`);
    console.log(`  median of ${rtnlUs.length} each: rtnl ${Math.round(median(rtnlUs))} µs, ip ${Math.round(median(ipUs))} µs (${(median(ipUs) / median(rtnlUs)).toFixed(1)}x)`);
  } finally {
    c.destroy();
    console.log('\nCleaned up: every namespace the demo made is gone.');
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
