// Real container runtimes driving the rtnl plugin: podman 4.3 (CNI backend)
// and containerd 1.6 (`ctr run --cni`), each confined to a node namespace
// made for the test (entered with nsenter, not `ip netns exec`, which
// remounts /sys and hides the cgroups runc needs), with every piece of state
// (storage, sockets, configs, IPAM store) in temp dirs removed at teardown.
// The settings are the ones /work/shared/tools/{podman,ctr}-cni.sh found
// necessary on this VM: runc (crun refuses the hybrid cgroup layout),
// explicit default_ulimits (no CAP_SYS_RESOURCE), CRI disabled.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Test } from 'tap';
import { testNs, untapped, type TestNs } from './lib.js';
import { REF_DIR, tmpDir } from './plugin-runtime.js';

const INSTALLER = path.resolve(__dirname, '../../bin/rtnl-cni-install');

/** A command's outcome. */
export interface Res {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (inheriting our environment plus `env`) and waits for it. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Res {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** Like {@link run}; throws with the command's output when it fails. */
export function must(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = run(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Why the runtime `tool` (with runc) cannot run here, or false when it can. */
export function missing(tool: string): string | false {
  for (const b of [tool, 'runc', 'nsenter', 'busybox']) if (run('sh', ['-c', `command -v ${b}`]).code !== 0) return `${b} is not installed (scripts/setup installs it)`;
  return false;
}

/** The network every engine attaches its containers to: the rtnl plugin in bridge mode with rtnl-ipam. */
export interface Network {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** The CNI bin dir: rtnl and rtnl-ipam installed by bin/rtnl-cni-install, plus the reference loopback and portmap. */
  binDir: string;
  confDir: string;
  /** The IPAM store root (`dataDir`); the network's files are under `<dataDir>/<name>`. */
  dataDir: string;
  /** Reserved addresses and their owners' container ids. */
  reservations(): Array<{ ip: string; id: string }>;
}

/**
 * Installs the plugins and the network's conflist with bin/rtnl-cni-install,
 * used as it wrote it (cniVersion 1.0.0, rtnl + rtnl-ipam, then portmap);
 * the reference loopback and portmap go into the bin dir beside them, as the
 * containernetworking plugins are installed. The IPAM store is therefore the
 * default /var/lib/cni/networks/<network>, removed at teardown.
 */
export function network(t: Test, octet: number): Network {
  const binDir = path.join(tmpDir(t, 'rtnl-bin-'), 'bin');
  const confDir = tmpDir(t, 'rtnl-netd-');
  const name = `rtnl-rt-${randomBytes(3).toString('hex')}`;
  const subnet = `10.${octet}.0.0/24`, gateway = `10.${octet}.0.1`, bridge = `rtbr${octet}`;
  const dataDir = '/var/lib/cni/networks';
  const store = path.join(dataDir, name);
  // libcni caches results in /var/lib/cni/results/<network>-<id>-<ifname> (neither runtime lets us move it): ours go.
  t.teardown(() => {
    fs.rmSync(store, { recursive: true, force: true });
    for (const f of fs.readdirSync('/var/lib/cni/results', { withFileTypes: true }).filter((d) => d.name.startsWith(`${name}-`))) {
      fs.rmSync(path.join('/var/lib/cni/results', f.name), { force: true });
    }
  });
  must(...untapped(INSTALLER, ['--bin-dir', binDir, '--conf-dir', confDir, '--name', name, '--subnet', subnet, '--bridge', bridge]));
  for (const p of ['loopback', 'portmap']) fs.symlinkSync(path.join(REF_DIR, p), path.join(binDir, p));
  return {
    name, bridge, subnet, gateway, binDir, confDir, dataDir,
    reservations: () => (fs.existsSync(store) ? fs.readdirSync(store) : [])
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      .map((ip) => ({ ip, id: fs.readFileSync(path.join(store, ip), 'utf8').split('\r\n')[0]! })),
  };
}

/** A busybox root filesystem (the static binary and its applet links). */
function busyboxRootfs(dir: string): string {
  const root = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of must('/bin/busybox', ['--list']).split('\n').filter((x) => x && x !== 'busybox')) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  return root;
}

/** A one-layer OCI image archive of `rootfs`, named localhost/bb:latest (what `ctr images import` loads; no registry). */
function ociArchive(dir: string, rootfs: string): string {
  const oci = path.join(dir, 'oci');
  fs.mkdirSync(path.join(oci, 'blobs/sha256'), { recursive: true });
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const blob = (b: Buffer) => { const d = sha(b); fs.writeFileSync(path.join(oci, 'blobs/sha256', d), b); return { digest: `sha256:${d}`, size: b.length }; };
  const tarFile = path.join(dir, 'layer.tar');
  must('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', tarFile, '.']);
  const layerTar = fs.readFileSync(tarFile);
  const layer = blob(gzipSync(layerTar));
  const config = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layerTar)}`] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  })));
  fs.writeFileSync(path.join(oci, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': 'localhost/bb:latest', 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  fs.writeFileSync(path.join(oci, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const out = path.join(dir, 'bb-oci.tar');
  must('tar', ['-C', oci, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
  return out;
}

/** Lazily unmounts whatever is still mounted under `dir` (deepest first), so it can be removed. */
function unmountUnder(dir: string): void {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) run('umount', ['-l', m]);
}

/**
 * A cgroup parent of the test's own (`/rtnl-test-<random>`), removed at
 * teardown in every hierarchy, so the runtimes' default parents
 * (libpod_parent, default) are not left behind.
 */
function cgroupParent(t: Test): string {
  const name = `rtnl-test-${randomBytes(3).toString('hex')}`;
  t.teardown(() => {
    const rmTree = (dir: string): void => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) rmTree(path.join(dir, d.name));
      try { fs.rmdirSync(dir); } catch { /* still populated: the kernel refuses, nothing else to do */ }
    };
    for (const h of fs.readdirSync('/sys/fs/cgroup')) {
      const dir = path.join('/sys/fs/cgroup', h, name);
      if (fs.existsSync(dir)) rmTree(dir);
    }
  });
  return `/${name}`;
}

/** A container engine attached to a {@link Network}, its host side in `node`. */
export interface Engine {
  /** What ran, e.g. `podman version 4.3.1`. */
  version: string;
  node: TestNs;
  /** Runs `cmd` in a new container and removes it (CNI ADD, then DEL): its exit code and output. */
  runRm(name: string, cmd: string[]): Res;
  /** Starts a long-running container; resolves to its init process's pid (in our PID namespace). */
  start(name: string): Promise<number>;
  /**
   * Starts a container running `cmd` with its port 80 published on the node's
   * `hostPort` (the runtime's portMappings, handled by portmap); undefined
   * when the runtime has no way to ask for it (ctr).
   */
  publish?(name: string, hostPort: number, cmd: string[]): Promise<number>;
  /** Stops and removes a container made by {@link Engine.start}, which makes the runtime send CNI DEL. */
  remove(name: string): Promise<void>;
}

/** podman 4.3 with network_backend "cni", its configs, storage and run dirs under a temp dir. */
export function podman(t: Test, net: Network): Engine {
  const w = tmpDir(t, 'rtnl-podman-');
  const node = testNs(t, 'hp');
  const cgroup = cgroupParent(t);
  const hardNofile = must('sh', ['-c', 'ulimit -Hn']).trim();
  fs.writeFileSync(path.join(w, 'containers.conf'), `[containers]
cgroupns = "host"
default_ulimits = ["nofile=${hardNofile}:${hardNofile}", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${w}/events.log"
runtime = "runc"
tmp_dir = "${w}/tmp"
[network]
network_backend = "cni"
cni_plugin_dirs = ["${net.binDir}"]
network_config_dir = "${net.confDir}"
`);
  fs.writeFileSync(path.join(w, 'storage.conf'), `[storage]\ndriver = "overlay"\nrunroot = "${w}/run"\ngraphroot = "${w}/storage"\n`);
  const env = { CONTAINERS_CONF: path.join(w, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(w, 'storage.conf') };
  // Every call from inside the node namespace: podman runs the CNI plugins (ADD and DEL) in its own.
  const pm = (...args: string[]) => run('nsenter', [`--net=/run/netns/${node.name}`, 'podman', ...args], env);
  t.teardown(() => {
    pm('rm', '-af', '-t', '0');
    pm('rmi', '-af');
    unmountUnder(w);
  });
  const rootfs = busyboxRootfs(w);
  must('tar', ['-C', rootfs, '-cf', path.join(w, 'rootfs.tar'), '.']);
  const imp = pm('import', '-q', path.join(w, 'rootfs.tar'), 'localhost/bb');
  if (imp.code !== 0) throw new Error(`podman import: ${imp.stderr}`);
  const ok = (r: Res, what: string) => { if (r.code !== 0) throw new Error(`podman ${what}: exit ${r.code}\n${r.stdout}${r.stderr}`); return r; };
  return {
    version: must('podman', ['--version']).trim(),
    node,
    runRm: (name, cmd) => pm('run', '--rm', '--name', name, '--cgroup-parent', cgroup, '--network', net.name, 'localhost/bb', ...cmd),
    start: async (name) => {
      ok(pm('run', '-d', '--name', name, '--cgroup-parent', cgroup, '--network', net.name, 'localhost/bb', 'sleep', '600'), 'run -d');
      return Number(ok(pm('inspect', '-f', '{{.State.Pid}}', name), 'inspect').stdout.trim());
    },
    publish: async (name, hostPort, cmd) => {
      ok(pm('run', '-d', '--name', name, '--cgroup-parent', cgroup, '--network', net.name, '-p', `${hostPort}:80`, 'localhost/bb', ...cmd), 'run -d -p');
      return Number(ok(pm('inspect', '-f', '{{.State.Pid}}', name), 'inspect').stdout.trim());
    },
    remove: async (name) => { ok(pm('rm', '-f', '-t', '0', name), 'rm'); },
  };
}

/**
 * containerd 1.6 (CRI disabled; root, state, sockets under a temp dir) and
 * `ctr run --cni`. ctr has no flags for the CNI dirs: it reads the first
 * conflist of /etc/cni/net.d and runs plugins from /opt/cni/bin, so each ctr
 * runs in a private mount namespace with our dirs bound over those.
 */
export async function containerd(t: Test, net: Network): Promise<Engine> {
  const w = tmpDir(t, 'rtnl-ctrd-');
  const node = testNs(t, 'hc');
  const cgroup = cgroupParent(t);
  const sock = path.join(w, 'containerd.sock');
  fs.writeFileSync(path.join(w, 'config.toml'), `version = 2
root = "${w}/root"
state = "${w}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${sock}"
[ttrpc]
  address = "${sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${w}/opt"
`);
  const log = fs.openSync(path.join(w, 'containerd.log'), 'a');
  const daemon = spawn('nsenter', [`--net=/run/netns/${node.name}`, 'containerd', '--config', path.join(w, 'config.toml')], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const ctrArgv = (...args: string[]) => [`--net=/run/netns/${node.name}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    'mount --bind "$1" /etc/cni/net.d && mount -t tmpfs none /opt && mkdir -p /opt/cni/bin && mount --bind "$2" /opt/cni/bin && shift 2 && exec ctr "$@"',
    'ctr', net.confDir, net.binDir, '-a', sock, ...args];
  const ctr = (...args: string[]) => run('nsenter', ctrArgv(...args));
  const tasks = new Map<string, ChildProcess>();
  t.teardown(async () => {
    for (const [name, child] of tasks) {
      ctr('task', 'kill', '-s', 'KILL', name);
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('close', r)); // one that failed to start has exited already
    }
    for (const c of ctr('containers', 'ls', '-q').stdout.split('\n').filter(Boolean)) {
      ctr('task', 'rm', '-f', c);
      ctr('containers', 'rm', c);
    }
    daemon.kill('SIGTERM');
    if (daemon.exitCode === null) await new Promise((r) => daemon.once('close', r));
    unmountUnder(w);
  });
  for (const end = Date.now() + 10_000; !fs.existsSync(sock); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > end || daemon.exitCode !== null) throw new Error(`containerd did not start: ${fs.readFileSync(path.join(w, 'containerd.log'), 'utf8')}`);
  }
  const imp = ctr('images', 'import', ociArchive(w, busyboxRootfs(w)));
  if (imp.code !== 0) throw new Error(`ctr images import: ${imp.stderr}`);
  const pid = (name: string): number | undefined => {
    const row = ctr('task', 'ls').stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((c) => c[0] === name && c[2] === 'RUNNING');
    return row ? Number(row[1]) : undefined;
  };
  return {
    version: must('ctr', ['--version']).trim(),
    node,
    runRm: (name, cmd) => ctr('run', '--rm', '--cni', '--cgroup', `${cgroup}/${name}`, 'localhost/bb:latest', name, ...cmd),
    // `ctr run -d` + `ctr c rm` never sends DEL: a foreground `ctr run --rm` does when its task ends (with CNI_NETNS empty).
    start: async (name) => {
      const child = spawn('nsenter', ctrArgv('run', '--rm', '--cni', '--cgroup', `${cgroup}/${name}`, 'localhost/bb:latest', name, 'sleep', '600'), { stdio: 'ignore' });
      tasks.set(name, child);
      for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        const p = pid(name);
        if (p) return p;
        if (child.exitCode !== null) break;
      }
      throw new Error(`ctr run ${name} did not start (exit ${child.exitCode})`);
    },
    remove: async (name) => {
      const child = tasks.get(name)!;
      const done = new Promise((r) => child.once('close', r));
      const kill = ctr('task', 'kill', '-s', 'KILL', name);
      if (kill.code !== 0) throw new Error(`ctr task kill ${name}: ${kill.stderr}`);
      await done;
      tasks.delete(name);
    },
  };
}
