// Builds the project's native addons (issue 20): every native/<name>/ with a
// binding.gyp, by node-gyp into native/<name>/build/Release/. Today:
// udp-batch (recvmmsg/sendmmsg media sockets) and whatever else sits there.
// The headers are the running node's own (<prefix>/include/node, prefix
// derived from process.execPath: /usr/bin/node -> /usr), passed as --nodedir
// so that node-gyp never tries to download them.
//
// Run by `npm install` (postinstall) and by the tests. When an addon cannot
// be built (no headers, no compiler, node-gyp missing, a missing library, a
// compile error) it says why and goes on, and the script still exits 0: the
// code falls back to its JavaScript path (node:dgram, node:crypto), which is
// slower but complete. `--strict` makes a failed build exit 1 (CI uses it to
// prove the native path is really built).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const strict = process.argv.includes('--strict');
const only = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
let failures = 0;

function notBuilt(name, reason) {
  failures++;
  console.log(`build-native: ${name} not built (${reason}); its JavaScript fallback will be used`);
}

function finish() {
  process.exit(strict && failures > 0 ? 1 : 0);
}

if (!existsSync(join(root, 'native'))) {
  // A tree without the addons' sources (an image build context that left them out).
  notBuilt('every addon', `no ${join(root, 'native')}`);
  finish();
}

const addons = readdirSync(join(root, 'native'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .filter((name) => existsSync(join(root, 'native', name, 'binding.gyp')))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

const prefix = dirname(dirname(process.execPath));
if (!existsSync(join(prefix, 'include/node/node_api.h'))) {
  for (const name of addons) notBuilt(name, `no node headers at ${join(prefix, 'include/node')}`);
  finish();
}

// node-gyp as npm ships it, next to the running node, or an installed one.
const candidates = [
  join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ...(() => {
    try {
      return [createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')];
    } catch {
      return [];
    }
  })(),
];
const nodeGyp = candidates.find((path) => existsSync(path));
if (nodeGyp === undefined) {
  for (const name of addons) notBuilt(name, 'node-gyp not found');
  finish();
}

for (const name of addons) {
  const addonDir = join(root, 'native', name);
  const args = [nodeGyp, 'rebuild', `--nodedir=${prefix}`, '--directory', addonDir];
  console.log(`build-native: ${process.execPath} ${args.join(' ')}`);
  const started = Date.now();
  const result = spawnSync(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const release = join(addonDir, 'build/Release');
  const built = existsSync(release) && readdirSync(release).some((file) => file.endsWith('.node'));
  if (result.status !== 0 || !built) {
    process.stderr.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    notBuilt(name, `node-gyp exited with ${result.status ?? result.signal}`);
    continue;
  }
  console.log(`build-native: built ${name} in ${Date.now() - started} ms`);
}
finish();
