/**
 * Startup snapshots of the plugin executables (`node --build-snapshot`): a
 * plugin run is mostly Node.js start-up, and loading and compiling the
 * plugin's modules is half of it. A snapshot holds them already evaluated.
 *
 * The snapshot builder can only `require` Node's built-in modules, so the
 * plugin's compiled CommonJS modules are bundled into the builder script with
 * a minimal loader ({@link loader}); every module but the entry is evaluated
 * while building, the entry (which runs the plugin) after deserialization.
 * The native addon, which a snapshot cannot hold, is loaded by `process.dlopen`
 * on first use (see `addon()` in ../native).
 * @module
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname } from 'node:path';
import { replaceFile } from '../primitives/file.js';

/** One bundled module: its resolved dependencies (specifier -> file) and its source. */
type Bundled = [deps: Record<string, string>, source: string];

const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);

/** The modules reachable from `entry` through `require('literal')`, by file; built-ins are left to Node. */
function collect(entry: string): Map<string, Bundled> {
  const out = new Map<string, Bundled>();
  const todo = [entry];
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (out.has(file)) continue;
    const source = fs.readFileSync(file, 'utf8');
    const deps: Record<string, string> = {};
    for (const [, , spec] of source.matchAll(/\brequire\((["'])([^"'\n]+)\1\)/g)) {
      if (isBuiltin(spec!)) continue;
      todo.push(deps[spec!] = require.resolve(spec!, { paths: [dirname(file)] }));
    }
    out.set(file, [deps, source]);
  }
  return out;
}

/** A module's function, as Node's CommonJS wrapper calls it. */
type ModuleFn = (exports: unknown, require: (spec: string) => unknown, module: { exports: unknown }, filename: string, dirname: string) => void;

/**
 * The loader inside the builder script (serialized with toString: it may use
 * nothing from this module's scope). Evaluates every bundled module but
 * `entry` now, and `entry` as the snapshot's main function. Files outside the
 * bundle that a module requires at run time by computed path: `.node`
 * (the addon) by dlopen, `.json` by reading it.
 */
function loader(defs: Record<string, [Record<string, string>, ModuleFn]>, entry: string, nodeRequire: NodeRequire): void {
  const cache = new Map<string, { exports: unknown }>();
  const load = (file: string): unknown => {
    let m = cache.get(file);
    if (m) return m.exports;
    m = { exports: {} };
    cache.set(file, m);
    const def = defs[file];
    if (def) {
      const req = (spec: string) => (def[0][spec] ? load(def[0][spec]) : spec.startsWith('/') ? load(spec) : nodeRequire(spec));
      def[1].call(m.exports, m.exports, req, m, file, file.slice(0, file.lastIndexOf('/')));
    } else if (file.endsWith('.node')) {
      process.dlopen(m, file);
    } else if (file.endsWith('.json')) {
      m.exports = JSON.parse((nodeRequire('node:fs') as typeof fs).readFileSync(file, 'utf8'));
    } else {
      throw new Error(`${file} is not in the startup snapshot`);
    }
    return m.exports;
  };
  for (const file of Object.keys(defs)) if (file !== entry) load(file);
  (nodeRequire('node:v8') as typeof import('node:v8')).startupSnapshot.setDeserializeMainFunction(() => load(entry));
}

/** The `--build-snapshot` script for the plugin whose main module is `entry` (an absolute path in dist/). */
export function snapshotScript(entry: string): string {
  const defs = [...collect(entry)].map(([file, [deps, source]]) =>
    `${JSON.stringify(file)}: [${JSON.stringify(deps)}, function (exports, require, module, __filename, __dirname) {${source}\n}]`);
  return `'use strict';\n(${loader.toString()})({\n${defs.join(',\n')}\n}, ${JSON.stringify(entry)}, require);\n`;
}

/**
 * Writes `blob`, a startup snapshot of the plugin whose main module is
 * `entry`, built by this process's Node.js (only that version can use it:
 * another refuses it with exit code 14). Atomic: a runtime starting the plugin
 * meanwhile sees the old blob or the new one. Throws when Node cannot build it.
 */
export function buildSnapshot(entry: string, blob: string): void {
  replaceFile(blob, (tmp) => {
    const script = `${tmp}.js`;
    try {
      fs.writeFileSync(script, snapshotScript(entry));
      const r = spawnSync(process.execPath, ['--snapshot-blob', tmp, '--build-snapshot', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      if (r.status !== 0) throw new Error(`node --build-snapshot failed (${r.signal ?? `exit ${r.status}`}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    } finally {
      fs.rmSync(script, { force: true });
    }
  });
}
