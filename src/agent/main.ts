/**
 * rtnl-agent, run via `bin/rtnl-agent`: see {@link USAGE}. Exit codes: 0
 * success / healthy, 1 failure, 2 bad command line, 3 `status` found the
 * agent unhealthy or not running, 4 etcd's TLS failed, 5 etcd refused the
 * user.
 * @module
 */
import { UsageError, versionLine } from '../cli.js';
import { Agent, cleanup, exitCodeFor } from './agent.js';
import { USAGE, parseCommand } from './cli.js';
import { jsonLogger } from './log.js';
import { type AgentStatus, StateDir } from './state.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** A person-readable rendering of a status snapshot. */
export function formatStatus(s: AgentStatus, running: boolean): string {
  const lines = [
    `node        ${s.node} (${running ? `running, pid ${s.pid}` : 'not running'}, membership: ${s.membership}, backend: ${s.backend ?? 'vxlan'}, since ${s.startedAt})`,
    `subnet      ${s.self ? `${s.self.subnet} underlay ${s.self.underlay}${s.self.vtepMac === undefined ? '' : ` vtep ${s.self.vtepMac}`}` : '(none leased)'}`,
  ];
  if (s.lease) lines.push(`lease       ${s.lease.id} ttl ${s.lease.ttlSec}s`);
  if (s.device) lines.push(`device      ${s.device.name} index ${s.device.index} mac ${s.device.mac} mtu ${s.device.mtu}`);
  if (s.cniConf) lines.push(`cni         ${s.cniConf}`);
  if (s.cniSocket) lines.push(`cni socket  ${s.cniSocket} (the rtnl plugin's resident helper)`);
  const ls = s.lastSync;
  lines.push(`last sync   ${ls ? `${ls.at} (${ls.reason}): +${ls.added} ~${ls.updated} -${ls.removed} =${ls.unchanged} in ${ls.durationMs.toFixed(1)} ms` : 'never'}`);
  if (s.problem) lines.push(`problem     ${s.problem}`);
  lines.push(`peers       ${s.peers.length}`);
  for (const p of s.peers) lines.push(`  ${p.name.padEnd(20)} ${p.subnet.padEnd(18)} ${p.underlay.padEnd(16)} ${p.vtepMac ?? ''}`.trimEnd());
  const r = s.routes;
  if (r) {
    lines.push(`routes      ${r.learned.length} learned, ${r.missing.length} missing, ${r.stale.length} stale`);
    for (const [what, list] of [['missing', r.missing], ['stale', r.stale]] as const) if (list.length > 0) lines.push(`  ${what.padEnd(8)} ${list.join(' ')}`);
  }
  const e = s.evpn;
  if (e) {
    const up = e.sessions.filter((x) => x.state === 'Established').length;
    lines.push(`evpn        ${e.role}, pathspace ${e.pathspace}, zebra ${e.zebra ?? '-'} bgpd ${e.bgpd ?? '-'}, sessions ${up}/${e.sessions.length} up, ${e.vnis.length} VNIs`);
    for (const x of e.sessions) if (x.state !== 'Established') lines.push(`  session  ${x.peer} ${x.state}`);
    for (const v of e.vnis) lines.push(`  vni ${String(v.vni).padEnd(8)} ${v.device.padEnd(10)} VTEPs ${v.remoteVteps.join(' ') || '(none)'}, remote MACs ${v.remoteMacs}`);
    if (e.problem) lines.push(`  problem  ${e.problem}`);
  }
  const rejected = s.rejected ?? []; // a status file of an older agent has none
  if (rejected.length > 0) lines.push(`rejected    ${rejected.length} (records not used)`);
  for (const r of rejected) lines.push(`  ${r.key}${r.name === undefined ? '' : ` (${r.name})`}: ${r.reason}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let c;
  try {
    c = parseCommand(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`rtnl-agent: ${e.message}\n`);
    return 2;
  }
  if (c.cmd === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (c.cmd === 'version') {
    process.stdout.write(`${versionLine('rtnl-agent')}\n`);
    return 0;
  }
  if (c.cmd === 'status') {
    const s = new StateDir(c.stateDir).status();
    if (!s) {
      process.stderr.write(`rtnl-agent: no status in ${c.stateDir} (is the agent running with this --state-dir?)\n`);
      return 3;
    }
    const running = alive(s.pid);
    process.stdout.write(c.json ? `${JSON.stringify({ ...s, running }, null, 2)}\n` : `${formatStatus(s, running)}\n`);
    return running && s.lastSync !== undefined && s.problem === undefined && s.evpn?.problem === undefined ? 0 : 3;
  }
  const log = jsonLogger(c.opts.logLevel, { node: c.opts.nodeName });
  if (c.cmd === 'cleanup') {
    try {
      await cleanup(c.opts, log);
      log.info('cleaned up');
      return 0;
    } catch (e) {
      log.error('cleanup failed', { error: e });
      return exitCodeFor(e);
    }
  }
  const agent = new Agent(c.opts, log);
  const stopped = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        log.info('signal', { signal: sig });
        void agent.stop().then(resolve);
      });
    }
  });
  try {
    await agent.start();
  } catch (e) {
    log.error('start failed', { error: e, ...(exitCodeFor(e) === 1 ? {} : { cause: (e as Error).name }) });
    await agent.stop().catch(() => undefined);
    return exitCodeFor(e);
  }
  await stopped;
  return Number(process.exitCode ?? 0);
}

// A reader that goes away (`rtnl-agent status | head`) is not an error of ours.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
