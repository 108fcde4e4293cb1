/**
 * `ipMasq`: the pod's traffic leaving its subnet is masqueraded on the host,
 * with the very rules the reference bridge plugin makes (containernetworking
 * plugins, pkg/ip/ipmasq_linux.go), so a runtime or an operator reading
 * `iptables-save` sees what they know. Per attachment, in the nat table of
 * each family it has an address in:
 * ```
 * :CNI-<24 hex of sha512(network + container id)> - [0:0]
 * -A POSTROUTING -s <pod ip>/32 -m comment --comment "name: \"<network>\" id: \"<container id>\"" -j CNI-<hash>
 * -A CNI-<hash> -d <pod subnet> -m comment --comment "..." -j ACCEPT
 * -A CNI-<hash> ! -d 224.0.0.0/4 -m comment --comment "..." -j MASQUERADE     (IPv6: ff00::/8)
 * ```
 * Netfilter has no rtnetlink interface: like the reference plugin (through
 * go-iptables), this module runs the `iptables`/`ip6tables` executables
 * (execFile, no shell), and only when a config asks for `ipMasq`. Removal
 * finds the rules by chain name, so it needs neither the pod's namespace nor
 * its addresses (DEL with an empty CNI_NETNS removes them too).
 * @module
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, CniErrorCode } from '../cni/index.js';

/** The tool of each family. */
const TOOLS = { 4: 'iptables', 6: 'ip6tables' } as const;
/** Where to look when a runtime execs plugins with a bare PATH. */
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** The attachment's chain: `CNI-` and 24 hex digits of sha512(network + id), as the reference plugins name it. */
export function chainName(network: string, containerId: string): string {
  return `CNI-${createHash('sha512').update(network + containerId).digest('hex').slice(0, 24)}`;
}

/** The comment on each of the attachment's rules, as the reference plugins write it. */
export function ruleComment(network: string, containerId: string): string {
  return `name: ${JSON.stringify(network)} id: ${JSON.stringify(containerId)}`;
}

function findTool(name: string, path: string | undefined): string {
  for (const d of [...(path ?? '').split(':').filter(Boolean), ...SYSTEM_DIRS]) if (existsSync(join(d, name))) return join(d, name);
  throw new CniError(CniErrorCode.PluginNotAvailable, `ipMasq needs ${name}, not found`, `looked in PATH and ${SYSTEM_DIRS.join(', ')}`);
}

/** Runs `iptables -w -t nat ARGS` of family `fam`; resolves to [exit code, stdout, stderr]. */
function nat(fam: 4 | 6, args: string[]): Promise<[number, string, string]> {
  const tool = findTool(TOOLS[fam], process.env.PATH);
  return new Promise((resolve) => {
    execFile(tool, ['-w', '-t', 'nat', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve([err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr]);
    });
  });
}

/** Like {@link nat}; a failure is error 999 with iptables' own words. */
async function natOk(fam: 4 | 6, args: string[]): Promise<string> {
  const [code, out, err] = await nat(fam, args);
  if (code !== 0) throw new CniError(999, `ipMasq: ${TOOLS[fam]} -t nat ${args.join(' ')} failed`, err.trim());
  return out;
}

/** Appends `rule` to `chain` unless an identical rule is there (go-iptables' AppendUnique). */
async function appendUnique(fam: 4 | 6, chain: string, rule: string[]): Promise<void> {
  const [present] = await nat(fam, ['-C', chain, ...rule]);
  if (present !== 0) await natOk(fam, ['-A', chain, ...rule]);
}

/** The address family of CIDR `address`. */
function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/**
 * Masquerades the attachment's addresses (CIDRs with their prefix, as in a
 * CNI result). Idempotent: an ADD run again adds nothing twice.
 */
export async function setupIpMasq(network: string, containerId: string, addresses: readonly string[]): Promise<void> {
  const chain = chainName(network, containerId);
  const comment = ['-m', 'comment', '--comment', ruleComment(network, containerId)];
  for (const address of addresses) {
    const fam = familyOf(address);
    const [code, , err] = await nat(fam, ['-N', chain]);
    if (code !== 0 && !/exists/i.test(err)) throw new CniError(999, `ipMasq: ${TOOLS[fam]} -t nat -N ${chain} failed`, err.trim());
    await appendUnique(fam, chain, ['-d', address, ...comment, '-j', 'ACCEPT']);
    await appendUnique(fam, chain, ['!', '-d', fam === 4 ? '224.0.0.0/4' : 'ff00::/8', ...comment, '-j', 'MASQUERADE']);
    await appendUnique(fam, 'POSTROUTING', ['-s', address.slice(0, address.indexOf('/')), ...comment, '-j', chain]);
  }
}

/** Removes chain `chain` and the POSTROUTING rules jumping to it, in both families; nothing there is not an error. */
async function removeChain(fam: 4 | 6, chain: string, rules: string): Promise<void> {
  for (const line of rules.split('\n')) {
    if (!line.startsWith('-A POSTROUTING ') || !line.endsWith(` -j ${chain}`)) continue;
    await natOk(fam, ['-D', ...splitRule(line.slice('-A '.length))]);
  }
  if (rules.split('\n').includes(`-N ${chain}`)) {
    await natOk(fam, ['-F', chain]);
    await natOk(fam, ['-X', chain]);
  }
}

/** Splits an `iptables -S` rule into arguments: words, and double-quoted strings with `\"` escapes (comments). */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map(([, quoted, word]) => (quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : word!));
}

/** Removes the attachment's masquerade rules, whatever its addresses were. */
export async function teardownIpMasq(network: string, containerId: string): Promise<void> {
  const chain = chainName(network, containerId);
  for (const fam of [4, 6] as const) await removeChain(fam, chain, await natOk(fam, ['-S']));
}

/** Removes the masquerade rules of `network`'s attachments whose container is not in `keep`. */
export async function gcIpMasq(network: string, keep: ReadonlySet<string>): Promise<void> {
  const marker = `--comment "name: \\"${network}\\" id: \\"`;
  for (const fam of [4, 6] as const) {
    let rules = await natOk(fam, ['-S']);
    const stale = new Set<string>();
    for (const line of rules.split('\n')) {
      const at = line.indexOf(marker);
      if (!line.startsWith('-A POSTROUTING ') || at < 0) continue;
      const id = line.slice(at + marker.length, line.indexOf('\\"', at + marker.length));
      if (!keep.has(id)) stale.add(id);
    }
    for (const id of stale) {
      await removeChain(fam, chainName(network, id), rules);
      rules = await natOk(fam, ['-S']);
    }
  }
}
