// Validates a static membership file as rtnl-agent --static reads it and prints
// each node's subnet; an error names the node and the field.
// node static-membership.js FILE
import { readStaticFile, vtepMacFor } from 'rtnl/agent';

const file = readStaticFile(process.argv[2] ?? 'nodes.json');
console.log(`network ${file.network.network}, VNI ${file.network.vni}`);
for (const n of file.nodes) console.log(`${n.name}: ${n.subnet} via ${n.underlay} (VTEP ${n.vtepMac}; derived: ${vtepMacFor(n.name, file.network.vni ?? 1)})`);
