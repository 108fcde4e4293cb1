// Runs link-kinds.test.js, link-kinds2.test.js and plugin-macvlan.test.js in
// a QEMU guest on Debian's 6.1 kernel, which has the kinds this VM's kernel
// lacks (ipvlan, vlan, dummy, bond, vrf, geneve, the GRE and IP-in-IP
// tunnels, wireguard): they are created and checked against iproute2, and
// the CNI plugin's ipvlan mode carries pings, for real, not only on the wire.
// (Neither kernel has netkit, which came in Linux 6.7.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

const root = path.join(__dirname, '..', '..');
const kvmRun = path.join(root, '..', 'shared', 'tools', 'kvm-run.sh');
const hasQemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).status === 0;
const skip = !fs.existsSync(kvmRun) ? `no ${kvmRun}` : !hasQemu ? 'qemu-system-x86 is not installed (scripts/setup installs it)' : false;

t.test('the link kinds this kernel lacks, on a kernel that has them', { skip, timeout: 900_000 }, (t) => {
  const files = ['dist/test/link-kinds.test.js', 'dist/test/link-kinds2.test.js', 'dist/test/plugin-macvlan.test.js'];
  const r = spawnSync(kvmRun, ['scripts/sandbox', 'bash', '-c', `export TAP_TIMEOUT=600; ${files.map((f) => `node ${f}`).join(' && ')}`], { // emulation is ~25x slower: no per-file timeout
    cwd: root, encoding: 'utf8', env: { ...process.env, KVM_TIMEOUT: '600', NODE_OPTIONS: '' }, timeout: 850_000,
  });
  const out = `${r.stdout}${r.stderr}`;
  t.equal(r.status, 0, `the guest run passed\n${out.slice(-3000)}`);
  const kinds = ['ipvlan', 'vlan', 'dummy', 'bond', 'bond ports', 'vrf', 'vrf ports', 'geneve', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'ipip', 'sit', 'wireguard', 'tun/tap'];
  for (const kind of kinds) {
    const lines = out.split('\n').filter((l) => new RegExp(`^ok \\d+ - ${kind}:`).test(l));
    t.ok(lines.length > 0, `${kind} cases ran`);
    t.notOk(lines.some((l) => /# SKIP/.test(l)), `${kind} was not skipped in the guest`);
  }
  t.match(out, /^ok \d+ - ipvlan: created in the pod, pods ping each other # time/m, 'the plugin\'s ipvlan mode ran and passed');
  t.end();
});
