// rtnl-cni and rtnl-ipam run by hand: with no CNI environment they say what
// they are, as the reference plugins do (stderr, exit 0); --help, --version;
// any other argument is a usage error (exit 2). A runtime's call is unchanged.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

const BIN = path.resolve(__dirname, '../../bin');
const VERSION = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')).version as string;
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };

for (const [tool, plugin] of [['rtnl-cni', 'rtnl'], ['rtnl-ipam', 'rtnl-ipam']] as const) {
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}, input = '') =>
    spawnSync(process.execPath, [path.join(BIN, tool), ...args], { encoding: 'utf8', env: { ...env, ...extra }, input });

  t.test(`${tool}`, (t) => {
    const about = `CNI ${plugin} plugin v${VERSION}\nCNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n`;
    const bare = run([]);
    t.same([bare.status, bare.stdout, bare.stderr], [0, '', about], 'no CNI_COMMAND: name, version and CNI versions on stderr, exit 0');
    t.same([run([], { CNI_COMMAND: '' }).stderr], [about], 'an empty CNI_COMMAND too');
    const help = run(['--help']);
    t.same([help.status, help.stderr], [0, '']);
    t.match(help.stdout, new RegExp(`^usage: ${tool} \\[--help \\| --version\\]\n[^]*CNI_COMMAND[^]*${about}$`));
    const v = run(['--version'], { CNI_COMMAND: 'ADD' });
    t.same([v.status, v.stdout], [0, `${tool} ${VERSION} (rtnl, Node.js ${process.version})\n`], '--version, even with a CNI environment');
    const bad = run(['--frob']);
    t.same([bad.status, bad.stdout], [2, '']);
    t.match(bad.stderr, `${tool}: Unknown option '--frob'\nusage: ${tool}`);
    t.equal(run(['extra']).status, 2, 'a positional');
    const ver = run([], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    t.same([ver.status, JSON.parse(ver.stdout).cniVersion], [0, '1.0.0'], 'a runtime\'s call is the plugin\'s');
    const unknown = run([], { CNI_COMMAND: 'FROB' });
    t.same([unknown.status, JSON.parse(unknown.stdout).code], [1, 4], 'an unknown CNI_COMMAND is still error 4');
    t.end();
  });
}
