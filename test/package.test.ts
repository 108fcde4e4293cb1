// The package as its users get it (issue 12): a fresh clone of this repository
// packed with `npm pack`, and the same clone as a git URL, each installed into a
// consumer project — without a compiler (the committed prebuilds serve: the
// addon loads, the installer puts in the prebuilt CNI client) and, from the
// tarball, built from source with one. TypeScript consumers type-check the
// examples against the installed package under moduleResolution node10 and
// node16 without Node's types named in their tsconfig. npm runs offline from
// its cache (scripts/setup primes it): no network.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test as Tap } from 'tap';
import { NODE_FLOOR } from '../src/node-floor.js';
import { tmpDir } from './plugin-runtime.js';

// npm installs and a C++ build: about 100 s of CPU, which a busy 2-CPU machine stretches well past tap's 300 s.
t.setTimeout(900_000);

const ROOT = path.resolve(__dirname, '../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** The environment npm and the consumers run with: no tap loaders, nothing from an npm that may have started the tests. */
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('npm_')));

/** A PATH holding everything on this one except the compilers, make and python: a machine that cannot build the addon. */
function noCompilerPath(dir: string): string {
  const hidden = /^(cc|c\+\+|gcc|g\+\+|cpp|clang.*|make|gmake|python[0-9.]*|.*-(gcc|g\+\+|cpp|c\+\+)(-[0-9]+)?|(gcc|g\+\+|cpp)-[0-9]+)$/;
  fs.mkdirSync(dir);
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (!d || !fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d)) {
      if (hidden.test(f) || fs.existsSync(path.join(dir, f))) continue;
      fs.symlinkSync(path.join(d, f), path.join(dir, f));
    }
  }
  return dir;
}

interface Run { code: number | null; out: string; err: string }

/** Runs a command to its end without blocking the event loop (installs proceed side by side). */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = baseEnv): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const npmOffline = ['--offline', '--no-audit', '--no-fund'];

/** A consumer project: package.json with `extra` fields, and the examples with tsconfigs for node10 and node16 resolution. */
function consumer(dir: string, extra: object = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, ...extra }));
  for (const f of fs.readdirSync(path.join(ROOT, 'examples'))) fs.copyFileSync(path.join(ROOT, 'examples', f), path.join(dir, f));
  // No @internal helper in completion: the declarations leave them out.
  fs.writeFileSync(path.join(dir, 'internal.ts'), "import * as rtnl from 'rtnl';\n// @ts-expect-error linkSpecArg is @internal\nvoid rtnl.linkSpecArg;\n");
  // "types": [] is TypeScript 6's default: Node's types come only through rtnl's own declarations.
  const base = { strict: true, skipLibCheck: false, types: [], target: 'ES2022', outDir: 'out', rootDir: '.' };
  fs.writeFileSync(path.join(dir, 'tsconfig.node10.json'), JSON.stringify({ compilerOptions: { ...base, module: 'commonjs', moduleResolution: 'node10' }, include: ['*.ts'] }));
  fs.writeFileSync(path.join(dir, 'tsconfig.node16.json'), JSON.stringify({ compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' }, include: ['*.ts'] }));
  return dir;
}

/** A script listing the links of a new namespace `ns` through require('rtnl'). */
const listLinks = (ns: string) => `const { Handle, createNetns, deleteNetns } = require('rtnl'); const ns = createNetns('${ns}');
  try { console.log(new Handle(ns).linkList().map((l) => l.name).join()); } finally { deleteNetns('${ns}'); }`;

/** Asserts that a command succeeded; its output (the end of it) shows only when it did not. */
const succeeded = (t: Tap, r: Run, what: string) => t.equal(r.code, 0, what, { stdout: r.out.slice(-3000), stderr: r.err.slice(-3000) });

/** Why this file cannot run here: npm's cache lacks what a consumer's install resolves (scripts/setup caches it). */
function cacheMissing(): string | false {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-probe-'));
  try {
    const specs = Object.entries({ ...pkg.dependencies, ...pkg.peerDependencies }).map(([n, v]) => `${n}@${v}`);
    const r = spawnSync('npm', ['install', '--dry-run', '--ignore-scripts', '--no-package-lock', ...npmOffline, ...specs], { cwd: d, env: baseEnv, encoding: 'utf8' });
    return r.status === 0 ? false : `npm's cache lacks the consumers' dependencies (${specs.join(' ')}): run scripts/setup with network first (${/ENOTCACHED.*|npm error .*/.exec(r.stderr)?.[0] ?? r.stderr.trim()})`;
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
}

// The clone holds what is committed: uncommitted changes are not tested here.
const skip = !fs.existsSync(path.join(ROOT, '.git')) ? 'not a git checkout' : spawnSync('git', ['--version']).status !== 0 ? 'no git' : cacheMissing();

t.test('a fresh clone installs as a dependency', { skip }, async (t) => {
  const d = tmpDir(t, 'rtnl-package-');
  const clone = path.join(d, 'rtnl');
  const nocc = { ...baseEnv, PATH: noCompilerPath(path.join(d, 'nocc-bin')) };
  t.equal(spawnSync('/bin/sh', ['-c', 'for c in gcc g++ make python3; do command -v $c; done'], { env: nocc, encoding: 'utf8' }).stdout, '', 'the no-compiler PATH has no gcc, g++, make or python3');

  const cloned = await run('git', ['clone', '-q', ROOT, clone], d);
  succeeded(t, cloned, 'git clone');
  // The git URL install starts now, side by side with the rest (npm prepares the clone itself).
  // npm 11 runs a dependency's install scripts only when the consumer allows them: a git dependency needs its prepare.
  const gitUrl = `git+file://${clone}`;
  const gitConsumer = consumer(path.join(d, 'from-git'), { allowScripts: { [gitUrl]: true } });
  const gitInstall = run('npm', ['install', ...npmOffline, gitUrl], gitConsumer, nocc);

  // npm pack runs prepare (tsc) with the devDependencies: the clone borrows this checkout's (npm ci would copy the same packages).
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'));
  const packed = await run('npm', ['pack', '--json', ...npmOffline, '--pack-destination', d], clone);
  succeeded(t, packed, 'npm pack');
  const [{ filename, files }] = JSON.parse(packed.out.slice(packed.out.indexOf('[')));
  const tgz = path.join(d, filename);
  const shipped = (files as Array<{ path: string }>).map((f) => f.path);
  for (const f of ['LICENSE', 'CHANGELOG.md', 'binding.gyp', 'native/cni_client.c', 'native/handle.cc', 'bin/rtnl-cni', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cni/index.d.ts', 'dist/src/agent/index.d.ts',
    'prebuilds/linux-x64/rtnl.napi.glibc.node', 'prebuilds/linux-x64/rtnl-cni-client.glibc', 'prebuilds/linux-arm64/rtnl.napi.glibc.node', 'prebuilds/linux-arm64/rtnl-cni-client.glibc']) {
    t.ok(shipped.includes(f), `the tarball ships ${f}`);
  }
  t.same(shipped.filter((f) => /^(src|test|tmp|examples)\/|\.map$|^dist\/(test|bench|demo)\//.test(f)), [], 'no sources, tests, maps or scratch files');

  // The same tarball, built from source: allowed to run its install script, with a compiler, told to build.
  const srcConsumer = consumer(path.join(d, 'from-source'), { allowScripts: { [`file:../${filename}`]: true } });
  const srcInstall = run('npm', ['install', ...npmOffline, `../${filename}`], srcConsumer, { ...baseEnv, npm_config_build_from_source: 'true', JOBS: '2' });

  await t.test('from the tarball, without a compiler: the prebuilds', async (t) => {
    const c = consumer(path.join(d, 'from-tarball'));
    const inst = await run('npm', ['install', ...npmOffline, tgz], c, nocc);
    succeeded(t, inst, 'npm install of the tarball');
    const pkgDir = path.join(c, 'node_modules/rtnl');
    t.notOk(fs.existsSync(path.join(pkgDir, 'build')), 'nothing built');
    const loaded = await run('node', ['-p', "require('node-gyp-build').path(require('path').dirname(require.resolve('rtnl/package.json')))"], c, nocc);
    t.equal(loaded.out.trim(), path.join(pkgDir, `prebuilds/linux-${process.arch}/rtnl.napi.glibc.node`), 'the addon is the prebuild');
    for (const cfg of ['node10', 'node16']) {
      const tsc = await run('node', [TSC, '-p', `tsconfig.${cfg}.json`], c);
      succeeded(t, tsc, `${cfg}: the examples type-check against 'rtnl', 'rtnl/cni', 'rtnl/agent', 'rtnl/primitives' without "types": ["node"]`);
    }
    // The example: require('rtnl'), a Handle in a new namespace, its links as JSON (bigint counters as strings).
    const listed = await run('node', ['out/list-links.js', 'pkg-test'], c, nocc);
    succeeded(t, listed, 'examples/list-links.ts runs');
    const links = JSON.parse(listed.out) as Array<{ name: string; stats: { rxBytes: unknown } }>;
    t.same(links.map((l) => l.name).sort(), ['lo', 'veth0', 'veth1']);
    t.equal(typeof links[0]!.stats.rxBytes, 'string', 'a 64-bit counter in JSON: a decimal string');

    // The installer, run from the installed package, puts in the prebuilt client and says so.
    const bin = path.join(d, 'cni-bin');
    const installed = await run(path.join(c, 'node_modules/.bin/rtnl-cni-install'), ['--bin-dir', bin, '--no-conf', '--no-snapshot'], c, nocc);
    succeeded(t, installed, 'rtnl-cni-install');
    const prebuiltClient = path.join(pkgDir, `prebuilds/linux-${process.arch}/rtnl-cni-client.glibc`);
    t.match(installed.out, `rtnl: client fast path (prebuilt ${prebuiltClient}; without a daemon it runs .rtnl-node: launcher only (--no-snapshot))`);
    t.same(fs.readFileSync(path.join(bin, 'rtnl')), fs.readFileSync(prebuiltClient), 'rtnl is the prebuilt client');
    const version = spawnSync(path.join(bin, 'rtnl'), [], { env: { ...nocc, CNI_COMMAND: 'VERSION' }, encoding: 'utf8', input: '' });
    t.equal(version.status, 0, version.stderr);
    t.ok(JSON.parse(version.stdout).supportedVersions.includes('1.0.0'), 'the prebuilt client runs here (no daemon: through the launcher)');

    // An older Node.js is told so, by the library and by the executables.
    const old = path.join(d, 'old-node.js');
    fs.writeFileSync(old, "Object.defineProperty(process.versions, 'node', { value: '18.19.0' });\n");
    const lib = await run('node', ['-r', old, '-e', "require('rtnl')"], c);
    t.match(lib.err, /Error: rtnl needs Node\.js 20 or newer; this is 18\.19\.0/);
    const exe = await run('node', ['-r', old, path.join(pkgDir, 'bin/rtnl-cni-install'), '--help'], c);
    t.same([exe.code, exe.err.trim()], [1, `rtnl-cni-install: rtnl needs Node.js 20 or newer; this is 18.19.0 (${process.execPath})`]);
  });

  await t.test('from the git URL, without a compiler: prepare builds dist/, the prebuilds serve', async (t) => {
    succeeded(t, await gitInstall, 'npm install of the git URL');
    t.ok(fs.existsSync(path.join(gitConsumer, 'node_modules/rtnl/dist/src/index.d.ts')), 'dist/ built by prepare');
    t.notOk(fs.existsSync(path.join(gitConsumer, 'node_modules/rtnl/build')), 'nothing compiled');
    const listed = await run('node', ['-e', listLinks('pkg-git')], gitConsumer, nocc);
    t.same([listed.code, listed.out.trim()], [0, 'lo'], listed.err);
  });

  await t.test('from the tarball with a compiler, built from source: the shipped sources build the addon and the client', async (t) => {
    succeeded(t, await srcInstall, 'npm install of the tarball, built from source');
    const pkgDir = path.join(srcConsumer, 'node_modules/rtnl');
    const loaded = await run('node', ['-p', "require('node-gyp-build').path(require('path').dirname(require.resolve('rtnl/package.json')))"], srcConsumer);
    t.equal(loaded.out.trim(), path.join(pkgDir, 'build/Release/rtnl.node'), 'the addon is the source build');
    const listed = await run('node', ['-e', listLinks('pkg-src')], srcConsumer);
    t.same([listed.code, listed.out.trim()], [0, 'lo'], listed.err);
    const installed = await run(path.join(srcConsumer, 'node_modules/.bin/rtnl-cni-install'), ['--bin-dir', path.join(d, 'cni-bin-src'), '--no-conf', '--no-snapshot'], srcConsumer);
    t.match(installed.out, `rtnl: client fast path (built from source ${path.join(pkgDir, 'build/Release/rtnl-cni-client')};`);
  });
});

t.test('the committed prebuilds: both targets, the right ELF, N-API and glibc, built from the sources now', (t) => {
  const r = spawnSync(path.join(ROOT, 'scripts/prebuild'), ['--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /linux-x64\/rtnl\.napi\.glibc\.node: \d+ N-API functions, all in N-API 8/);
  t.match(r.stdout, /linux-arm64\/rtnl-cni-client\.glibc: AArch64/);
  t.end();
});

t.test('engines.node and the run-time floor agree', (t) => {
  t.equal(pkg.engines.node, `>=${NODE_FLOOR}`);
  t.end();
});
