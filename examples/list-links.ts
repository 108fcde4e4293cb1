// Lists the links of a fresh network namespace as JSON, then removes it.
// Run as root: node list-links.js [NAME]
import { Handle, createNetns, deleteNetns, jsonReplacer } from 'rtnl';

const name = process.argv[2] ?? 'rtnl-example';
const ns = createNetns(name); // what `ip netns add NAME` makes
try {
  const h = new Handle(ns); // a netlink socket inside it
  h.linkAdd({ kind: 'veth', name: 'veth0', peer: { name: 'veth1' }, up: true });
  // Counters come when asked for, as 64-bit bigints: jsonReplacer writes them as decimal strings.
  console.log(JSON.stringify(h.linkList({ stats: true }), jsonReplacer, 2));
  h.close();
} finally {
  ns.close();
  deleteNetns(name);
}
