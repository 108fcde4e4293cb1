/**
 * rtnl-cni-install: puts the `rtnl` plugin and `rtnl-ipam` into a CNI bin
 * directory and writes a sample conflist, as flannel's and Calico's DaemonSet
 * installers do. Run via `bin/rtnl-cni-install`.
 *
 * ```
 * rtnl-cni-install [--bin-dir /opt/cni/bin] [--conf-dir /etc/cni/net.d] [--symlink]
 *                  [--no-snapshot] [--no-daemon-client] [--no-conf] [--name rtnl] [--subnet 10.88.0.0/16] [--bridge cni0]
 *                  [--cni-version 1.0.0]
 * ```
 * Each plugin is a small `/bin/sh` launcher that names the running node by its
 * path (runtimes may exec plugins with a bare PATH) and this package's `bin/`
 * by absolute path, and answers VERSION itself; next to it, `<plugin>.snapshot`, a startup snapshot of the
 * plugin built by that node (see ./snapshot), which the launcher starts from
 * when present. With `--symlink`, a symlink to `bin/` instead (Node resolves
 * the symlink, so `../dist` is found). Files appear atomically (temp +
 * rename): a runtime exec'ing a plugin during an upgrade never sees half a file.
 *
 * When there is a daemon client for this machine (see {@link findClient}:
 * the package's own native build, else the prebuilt one), `rtnl` is that
 * client: it has a running rtnl-cni-daemon (./daemon) serve the call, and
 * otherwise execs the launcher, installed as `.rtnl-node` next to it.
 * `--no-daemon-client` (or `--symlink`) installs the launcher as `rtnl` itself.
 * The installer says which of these it installed for each plugin, and why.
 * @module
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCommandLine, UsageError, versionLine } from '../cli.js';
import { isSupportedVersion, SUPPORTED_VERSIONS, versionAnswer, type CniVersion } from '../cni/index.js';
import { replaceFile, writeFileAtomic } from '../primitives/file.js';
import { buildSnapshot } from './snapshot.js';

/** What {@link install} does. */
export interface InstallOptions {
  binDir: string;
  /** Undefined: no conflist. */
  confDir: string | undefined;
  symlink: boolean;
  /** Build a startup snapshot next to each launcher (not with `symlink`). */
  snapshot: boolean;
  /** Install the daemon client as `rtnl` when it was built (not with `symlink`). */
  daemonClient: boolean;
  name: string;
  subnet: string;
  bridge: string;
  /** The conflist's cniVersion. */
  cniVersion: CniVersion;
}

/**
 * The conflist's default cniVersion: the newest that podman 4.3's and
 * containerd 1.6's libcni (1.1) and the reference portmap (1.1.1) accept;
 * they refuse 1.1.0 ("unsupported CNI result version").
 */
export const DEFAULT_CNI_VERSION: CniVersion = '1.0.0';

/** The package root (this file is dist/src/plugin/install.js). */
const ROOT = resolve(__dirname, '../../..');

/** The daemon client for this machine (`path`, undefined when there is none); `why`: where it comes from, or why there is none. */
export interface ClientLookup {
  path: string | undefined;
  why: string;
}

/**
 * The daemon client for this machine: the one the package's native build made
 * (`build/Release/rtnl-cni-client`: from these very sources), else the
 * prebuilt one for this platform, CPU and libc
 * (`prebuilds/linux-x64/rtnl-cni-client.glibc`), as node-gyp-build picks the
 * addon. A prebuilt client is linked against glibc: on another libc (musl)
 * there is none.
 */
export function findClient(root = ROOT): ClientLookup {
  const built = join(root, 'build/Release/rtnl-cni-client');
  if (fs.existsSync(built)) return { path: built, why: 'built from source' };
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = report?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
  const rel = `prebuilds/${process.platform}-${process.arch}/rtnl-cni-client.${libc}`;
  if (fs.existsSync(join(root, rel))) return { path: join(root, rel), why: 'prebuilt' };
  return { path: undefined, why: `no build/Release/rtnl-cni-client (no source build) and no ${rel}` };
}

/** The name under which the client finds the launcher of plugin `file` (see `fallback` in native/cni_client.c). */
const clientLauncher = (file: string): string => `.${file}-node`;

/** The plugins installed: file name in the bin dir -> [launcher in bin/, entry module in dist/]. */
const PLUGINS: Record<string, [string, string]> = {
  rtnl: ['bin/rtnl-cni', 'dist/src/plugin/main.js'],
  'rtnl-ipam': ['bin/rtnl-ipam', 'dist/src/ipam/main.js'],
};

/**
 * The launcher's VERSION answers, by the exact stdin a runtime sends (libcni:
 * `{"cniVersion":"X"}`, or nothing): computed by the plugin's own
 * {@link versionAnswer}, so the text cannot drift from the plugin's.
 */
function versionCases(q: (s: string) => string): string {
  const stdins = ['', ...SUPPORTED_VERSIONS.map((v) => JSON.stringify({ cniVersion: v }))];
  return stdins.map((i) => `    ${q(i)}) printf '%s' ${q(versionAnswer(i))}; exit 0 ;;`).join('\n');
}

/**
 * A plugin's launcher. VERSION (podman asks twice per container, whatever
 * its network) is answered by the shell for the stdin runtimes send, without
 * starting Node; any other stdin, and arguments, go to the plugin (stdin
 * given back as read). Other commands start from the snapshot next to it
 * when there is one, else from the package's own bin/ launcher. Node refuses a snapshot before running any
 * JavaScript — exit 14 when another Node.js version built it, a crash signal
 * (SIGTRAP, SIGABRT, SIGBUS, SIGSEGV) when the file is damaged — and stdin is
 * still unread then, so the launcher falls back and the call still succeeds.
 * (A crash of the plugin itself with those signals is re-run once too, which
 * ADD and DEL tolerate: an interrupted ADD's leftovers are replaced, DEL is
 * idempotent.) Not `exec`: the fallback needs the shell to outlive the first attempt.
 */
function launcher(file: string, binLauncher: string): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const blob = `"\${0%/*}"/${file}.snapshot`; // next to this script, wherever the bin dir is
  const plugin = `"$node" ${q(join(ROOT, binLauncher))} "$@"`;
  return `#!/bin/sh
# ${file}: installed by rtnl-cni-install from ${ROOT}
node=${q(process.execPath)}
if [ "$CNI_COMMAND" = VERSION ] && [ $# -eq 0 ]; then
  if IFS= read -r conf; then more=1; else more=; fi
  [ -n "$more" ] || case $conf in
${versionCases(q)}
  esac
  { printf '%s' "$conf"; if [ -n "$more" ]; then echo; cat; fi; } | ${plugin}
  exit
fi
if [ $# -eq 0 ] && [ -f ${blob} ]; then
  "$node" --snapshot-blob ${blob}
  rc=$?
  case $rc in
    14|133|134|135|139) echo "${file}: startup snapshot ${blob.replaceAll('"', '')} unusable (exit $rc), starting without it; re-run rtnl-cni-install" >&2 ;;
    *) exit $rc ;;
  esac
fi
exec ${plugin}
`;
}

/** Builds (or atomically replaces) `blob`; false, with a warning, when Node cannot: the launcher works without one, only slower. */
function trySnapshot(file: string, entry: string, blob: string): boolean {
  try {
    buildSnapshot(entry, blob);
    return true;
  } catch (e) {
    console.error(`rtnl-cni-install: no startup snapshot for ${file}: ${(e as Error).message}`);
    return false;
  }
}

/**
 * The sample conflist: bridge mode with rtnl-ipam, the pods' default route via
 * the bridge, then the reference `portmap` for the runtime's port mappings
 * (as podman's and containerd's default networks chain it; it is expected in
 * the bin dir, as the containernetworking plugins are installed).
 */
export function sampleConflist(o: Pick<InstallOptions, 'name' | 'subnet' | 'bridge' | 'cniVersion'>): object {
  return {
    cniVersion: o.cniVersion, name: o.name,
    plugins: [{
      type: 'rtnl', mode: 'bridge', bridge: o.bridge, isGateway: true, isDefaultGateway: true,
      ipam: { type: 'rtnl-ipam', ranges: [[{ subnet: o.subnet }]] },
    }, { type: 'portmap', capabilities: { portMappings: true } }],
  };
}

/**
 * Installs; returns the paths written. `report` gets one line per plugin
 * saying how it runs — the client fast path, a launcher with a startup
 * snapshot, or a launcher only — and why.
 */
export function install(o: InstallOptions, report: (line: string) => void = (line) => console.log(line)): string[] {
  const out: string[] = [];
  fs.mkdirSync(o.binDir, { recursive: true });
  for (const [file, [binLauncher, entry]] of Object.entries(PLUGINS)) {
    const target = join(o.binDir, file);
    const hidden = join(o.binDir, clientLauncher(file));
    const lookup = file === 'rtnl' && !o.symlink && o.daemonClient ? findClient() : undefined;
    const client = lookup?.path;
    if (!client) fs.rmSync(hidden, { force: true }); // an earlier install's, unused now
    if (o.symlink) {
      replaceFile(target, (tmp) => fs.symlinkSync(join(ROOT, binLauncher), tmp));
      out.push(target);
      report(`${file}: symlink to ${binLauncher} (--symlink)`);
      continue;
    }
    const blob = `${target}.snapshot`;
    const snapshot = o.snapshot && trySnapshot(file, join(ROOT, entry), blob);
    if (snapshot) out.push(blob);
    else fs.rmSync(blob, { force: true }); // one from an earlier install would not match this one
    writeFileAtomic(client ? hidden : target, launcher(file, binLauncher), 0o755);
    if (client) {
      out.push(hidden);
      replaceFile(target, (tmp) => { fs.copyFileSync(client, tmp); fs.chmodSync(tmp, 0o755); });
    }
    out.push(target);
    const how = snapshot ? 'launcher + startup snapshot' : `launcher only (${o.snapshot ? 'the startup snapshot failed, see above' : '--no-snapshot'})`;
    if (client) report(`${file}: client fast path (${lookup!.why} ${client}; without a daemon it runs ${clientLauncher(file)}: ${how})`);
    else if (lookup) report(`${file}: ${how}; no daemon client: ${lookup.why}`);
    else report(`${file}: ${how}${file === 'rtnl' ? '; no daemon client (--no-daemon-client)' : ''}`);
  }
  if (o.confDir !== undefined) {
    fs.mkdirSync(o.confDir, { recursive: true });
    const target = join(o.confDir, `10-${o.name}.conflist`);
    writeFileAtomic(target, `${JSON.stringify(sampleConflist(o), null, 2)}\n`);
    out.push(target);
  }
  return out;
}

const USAGE = `usage: rtnl-cni-install [--bin-dir DIR] [--conf-dir DIR | --no-conf] [--symlink] [--no-snapshot]
                        [--no-daemon-client] [--name NAME] [--subnet CIDR] [--bridge NAME] [--cni-version V]

Installs the rtnl CNI plugin and rtnl-ipam into a CNI bin dir and writes a sample conflist
(rtnl in bridge mode with rtnl-ipam, then portmap) into the conf dir.
  --bin-dir DIR        where the plugins go (default /opt/cni/bin)
  --conf-dir DIR       where 10-NAME.conflist goes (default /etc/cni/net.d); --no-conf: none
  --symlink            symlinks to the package's bin/ instead of launchers
  --no-snapshot        launchers without a startup snapshot
  --no-daemon-client   the launcher as rtnl, not the rtnl-cni-daemon client
  --name NAME          the network's name (default rtnl)
  --subnet CIDR        the pods' subnet (default 10.88.0.0/16)
  --bridge NAME        the bridge (default cni0)
  --cni-version V      the conflist's cniVersion (default ${DEFAULT_CNI_VERSION}, which podman 4.3, containerd 1.6
                       and portmap 1.1 accept; the plugins speak ${SUPPORTED_VERSIONS.join(', ')})
  --help, --version`;

type Flags = {
  'bin-dir'?: string; 'conf-dir'?: string; 'no-conf'?: boolean; symlink?: boolean; 'no-snapshot'?: boolean;
  'no-daemon-client'?: boolean; name?: string; subnet?: string; bridge?: string; 'cni-version'?: string;
};

/** Parses the command line (throws {@link UsageError}); undefined when it asked for help or the version, which are printed. */
export function parseArgs(argv: string[]): InstallOptions | undefined {
  const r = parseCommandLine<Flags>(argv, {
    'bin-dir': { type: 'string' }, 'conf-dir': { type: 'string' }, 'no-conf': { type: 'boolean' },
    symlink: { type: 'boolean' }, 'no-snapshot': { type: 'boolean' }, 'no-daemon-client': { type: 'boolean' },
    name: { type: 'string' }, subnet: { type: 'string' }, bridge: { type: 'string' }, 'cni-version': { type: 'string' },
  });
  if (r.kind === 'help') console.log(USAGE);
  if (r.kind === 'version') console.log(versionLine('rtnl-cni-install'));
  if (r.kind !== 'run') return undefined;
  const v = r.values;
  const cniVersion = v['cni-version'] ?? DEFAULT_CNI_VERSION;
  if (!isSupportedVersion(cniVersion)) throw new UsageError(`--cni-version ${cniVersion}: the plugins speak ${SUPPORTED_VERSIONS.join(', ')}`);
  if (v['no-conf'] && v['conf-dir'] !== undefined) throw new UsageError('--conf-dir and --no-conf exclude each other');
  return {
    binDir: v['bin-dir'] ?? '/opt/cni/bin', confDir: v['no-conf'] ? undefined : v['conf-dir'] ?? '/etc/cni/net.d',
    symlink: !!v.symlink, snapshot: !v['no-snapshot'], daemonClient: !v['no-daemon-client'],
    name: v.name ?? 'rtnl', subnet: v.subnet ?? '10.88.0.0/16', bridge: v.bridge ?? 'cni0', cniVersion,
  };
}

/** The command: installs as `argv` says, prints what it wrote; returns the exit code (2: a usage error). */
export function main(argv: string[]): number {
  let o;
  try {
    o = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`rtnl-cni-install: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (!o) return 0;
  try {
    for (const p of install(o)) console.log(`installed ${p}`);
    return 0;
  } catch (e) {
    console.error(`rtnl-cni-install: ${(e as Error).message}`);
    return 1;
  }
}
