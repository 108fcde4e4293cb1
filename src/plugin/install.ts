/**
 * rtnl-cni-install: puts the `rtnl` plugin and `rtnl-ipam` into a CNI bin
 * directory and writes a sample conflist, as flannel's and Calico's DaemonSet
 * installers do. Run via `bin/rtnl-cni-install`.
 *
 * ```
 * rtnl-cni-install [--bin-dir /opt/cni/bin] [--conf-dir /etc/cni/net.d] [--symlink]
 *                  [--no-snapshot] [--no-daemon-client] [--no-conf] [--name rtnl] [--subnet 10.88.0.0/16] [--bridge cni0]
 * ```
 * Each plugin is a small `/bin/sh` launcher that names the running node by its
 * path (runtimes may exec plugins with a bare PATH) and this package's `bin/`
 * by absolute path; next to it, `<plugin>.snapshot`, a startup snapshot of the
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
}

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
 * A plugin's launcher: from the snapshot next to it when there is one, else
 * the package's own bin/ launcher (also for VERSION, which needs none of the
 * modules: without them Node starts faster than from a snapshot). Node refuses a snapshot before running any
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
  return `#!/bin/sh
# ${file}: installed by rtnl-cni-install from ${ROOT}
node=${q(process.execPath)}
if [ "$CNI_COMMAND" != VERSION ] && [ -f ${blob} ]; then
  "$node" --snapshot-blob ${blob} "$@"
  rc=$?
  case $rc in
    14|133|134|135|139) echo "${file}: startup snapshot ${blob.replaceAll('"', '')} unusable (exit $rc), starting without it; re-run rtnl-cni-install" >&2 ;;
    *) exit $rc ;;
  esac
fi
exec "$node" ${q(join(ROOT, binLauncher))} "$@"
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

function replaceAtomically(target: string, write: (tmp: string) => void): void {
  const tmp = `${target}.tmp-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  write(tmp);
  fs.renameSync(tmp, target);
}

/** The sample conflist: bridge mode with rtnl-ipam, the pods' default route via the bridge. */
export function sampleConflist(o: Pick<InstallOptions, 'name' | 'subnet' | 'bridge'>): object {
  return {
    cniVersion: '1.1.0', name: o.name,
    plugins: [{
      type: 'rtnl', mode: 'bridge', bridge: o.bridge, isGateway: true, isDefaultGateway: true,
      ipam: { type: 'rtnl-ipam', ranges: [[{ subnet: o.subnet }]] },
    }],
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
      replaceAtomically(target, (tmp) => fs.symlinkSync(join(ROOT, binLauncher), tmp));
      out.push(target);
      report(`${file}: symlink to ${binLauncher} (--symlink)`);
      continue;
    }
    const blob = `${target}.snapshot`;
    const snapshot = o.snapshot && trySnapshot(file, join(ROOT, entry), blob);
    if (snapshot) out.push(blob);
    else fs.rmSync(blob, { force: true }); // one from an earlier install would not match this one
    replaceAtomically(client ? hidden : target, (tmp) => fs.writeFileSync(tmp, launcher(file, binLauncher), { mode: 0o755 }));
    if (client) {
      out.push(hidden);
      replaceAtomically(target, (tmp) => { fs.copyFileSync(client, tmp); fs.chmodSync(tmp, 0o755); });
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
    replaceAtomically(target, (tmp) => fs.writeFileSync(tmp, `${JSON.stringify(sampleConflist(o), null, 2)}\n`, { mode: 0o644 }));
    out.push(target);
  }
  return out;
}

/** Parses the command line; throws on an unknown flag. */
export function parseArgs(argv: string[]): InstallOptions {
  const o: InstallOptions = { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', symlink: false, snapshot: true, daemonClient: true, name: 'rtnl', subnet: '10.88.0.0/16', bridge: 'cni0' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--bin-dir': o.binDir = val(); break;
      case '--conf-dir': o.confDir = val(); break;
      case '--no-conf': o.confDir = undefined; break;
      case '--symlink': o.symlink = true; break;
      case '--no-snapshot': o.snapshot = false; break;
      case '--no-daemon-client': o.daemonClient = false; break;
      case '--name': o.name = val(); break;
      case '--subnet': o.subnet = val(); break;
      case '--bridge': o.bridge = val(); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

/** The command: installs as `argv` says, prints what it wrote; returns the exit code. */
export function main(argv: string[]): number {
  try {
    for (const p of install(parseArgs(argv))) console.log(`installed ${p}`);
    return 0;
  } catch (e) {
    console.error(`rtnl-cni-install: ${(e as Error).message}`);
    console.error('usage: rtnl-cni-install [--bin-dir DIR] [--conf-dir DIR | --no-conf] [--symlink] [--no-snapshot] [--no-daemon-client] [--name NAME] [--subnet CIDR] [--bridge NAME]');
    return 1;
  }
}
