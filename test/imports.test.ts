// The layering of src/, read from the import lines (TypeScript's own
// pre-processor: imports, re-exports, require() and import() types, comments
// skipped). The library (src/*.ts), the etcd client and the primitives stand
// alone; the consumers built on them (cni, ipam, plugin, agent) import the
// primitives and public entry points only, never each other's internals.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import * as ts from 'typescript';

const SRC = path.resolve(__dirname, '../../src');

/** The part of src/ a file belongs to: `lib` for src/*.ts, else its directory. */
const areaOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : 'lib');

const CONSUMERS = ['cni', 'ipam', 'plugin', 'agent'];

/** What each area may import outside itself (files relative to src/, `*` a whole area). */
const LAYERS: Record<string, readonly string[]> = {
  primitives: [],
  lib: ['primitives/*'],
  etcd: ['primitives/*'],
  types: [],
};
/** The public entry points every consumer may import: `rtnl`, `rtnl/cni`, the etcd client's index (re-exported by `rtnl/agent`). */
const PUBLIC = ['index.ts', 'cni/index.ts', 'etcd/index.ts', 'primitives/*'];

/**
 * The exceptions, each with its reason: importer (a file relative to src/,
 * or `area/*`) → the internal file it may import.
 */
const EXCEPTIONS: Array<{ from: string; to: string; why: string }> = [
  { from: 'cni/skel.ts', to: 'cli.ts', why: "pluginMain answers --help/--version with every tool's command-line reader" },
  { from: 'plugin/*', to: 'cli.ts', why: "rtnl-cni-install's and rtnl-cni-daemon's command lines, read like every tool's" },
  { from: 'agent/*', to: 'cli.ts', why: "rtnl-agent's command line, read like every tool's (UsageError is part of rtnl/agent)" },
  { from: 'cni/index.ts', to: 'node-floor.ts', why: 'the rtnl/cni entry checks the Node.js version at load, as rtnl does' },
  { from: 'plugin/daemon.ts', to: 'native.ts', why: "the resident helper reads its clients' peer credentials and namespace identities, which the public API has no verb for" },
  { from: 'plugin/plugin.ts', to: 'ipam/invoke.ts', why: "rtnl-ipam's in-process entry: the plugin runs it without a second Node.js start-up (its whole API)" },
  { from: 'agent/agent.ts', to: 'plugin/daemon.ts', why: "the agent hosts the plugin's resident helper (--cni-socket): startDaemon is that helper's entry" },
];

const matches = (pattern: string, rel: string): boolean => (pattern.endsWith('/*') ? rel.startsWith(pattern.slice(0, -1)) : rel === pattern);

/** The TypeScript files under dir, relative to SRC. */
function sources(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [path.relative(SRC, p)] : [];
  });
}

/** The specifiers a file's text imports. */
const specifiers = (text: string): string[] => ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);

/**
 * Why `rel` may not import `spec`, or undefined when it may; `used` collects
 * the exceptions that allowed something.
 */
function fault(rel: string, spec: string, used: Set<string>): string | undefined {
  if (spec.startsWith('node:')) return undefined;
  const from = areaOf(rel);
  if (!spec.startsWith('.')) return from === 'lib' ? undefined : `imports package ${spec} (only the library loads packages: the addon)`;
  const target = path.relative(SRC, path.resolve(SRC, path.dirname(rel), spec)).replace(/\.js$/, '.ts');
  if (target.startsWith('..')) return `imports ${spec}, outside src/`;
  const to = areaOf(target);
  if (to === from) return undefined;
  const allowed = CONSUMERS.includes(from) ? PUBLIC : LAYERS[from];
  if (allowed === undefined) return `is in an area this test does not know (${from}): give it a layer`;
  if (allowed.some((p) => matches(p, target))) return undefined;
  const exception = EXCEPTIONS.find((x) => matches(x.from, rel) && x.to === target);
  if (exception) {
    used.add(`${exception.from} -> ${exception.to}`);
    return undefined;
  }
  if (!CONSUMERS.includes(from)) return `imports ${target}: ${from} imports ${allowed.join(', ') || 'nothing'} outside itself`;
  return `imports ${target}, an internal of ${to === 'lib' ? 'the library' : to}`;
}

t.test('the checker refuses what it should', async (t) => {
  const used = new Set<string>();
  t.match(fault('agent/x.ts', '../ipam/store.js', used), /ipam\/store\.ts, an internal of ipam/, 'a consumer reaching into another');
  t.match(fault('agent/x.ts', '../validate.js', used), /internal of the library/, 'a consumer reaching into the library');
  t.match(fault('plugin/x.ts', '../cni/skel.js', used), /internal of cni/, "a consumer reaching past cni's index");
  t.match(fault('primitives/x.ts', '../errors.js', used), /errors\.ts: primitives imports nothing outside itself/, 'the primitives depend on nothing');
  t.match(fault('link.ts', './cni/index.js', used), /cni\/index\.ts: lib imports primitives\/\* outside itself/, 'the library does not know its consumers');
  t.match(fault('ipam/x.ts', 'some-package', used), /package/, 'packages are the library\'s');
  t.equal(fault('agent/x.ts', '../plugin/daemon.js', used), `imports plugin/daemon.ts, an internal of plugin`, 'an exception is for its importer only');
  t.equal(fault('plugin/x.ts', '../primitives/ip.js', used), undefined, 'primitives are for all');
  t.equal(fault('ipam/x.ts', '../cni/index.js', used), undefined, 'a public entry');
  t.equal(used.size, 0, 'no exception was needed for any of these');
});

t.test('src/: every import stays within its layer', async (t) => {
  const files = sources();
  t.ok(files.length > 50 && files.includes('primitives/ip.ts') && files.includes('agent/agent.ts'), `read ${files.length} files`);
  const used = new Set<string>();
  const faults: string[] = [];
  let imports = 0;
  for (const rel of files) {
    for (const spec of specifiers(fs.readFileSync(path.join(SRC, rel), 'utf8'))) {
      imports++;
      const f = fault(rel, spec, used);
      if (f) faults.push(`${rel} ${f}`);
    }
  }
  t.ok(imports > 200, `${imports} imports checked`);
  t.same(faults, [], 'no import crosses a layer');
  // An exception nothing needs any more is dropped, so the list stays the truth.
  t.same(EXCEPTIONS.map((x) => `${x.from} -> ${x.to}`).filter((k) => !used.has(k)), [], 'every exception is still needed');
});
