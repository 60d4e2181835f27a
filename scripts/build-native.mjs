// Builds the batched UDP I/O addon (native/udp-batch, issue 20) with node-gyp
// into native/udp-batch/build/. The headers are the running node's own
// (<prefix>/include/node, prefix derived from process.execPath: /usr/bin/node
// -> /usr), passed as --nodedir so that node-gyp never tries to download them.
// When it cannot build (no headers, no compiler, node-gyp missing, a compile
// error) it says why and exits 0: the media sockets then fall back to
// node:dgram, which is slower but complete. Run by hand or by the tests.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const addonDir = join(root, 'native/udp-batch');
const output = join(addonDir, 'build/Release/udp_batch.node');

function giveUp(reason) {
  console.log(`build-native: not built (${reason}); media sockets will use node:dgram`);
  process.exit(0);
}

const prefix = dirname(dirname(process.execPath));
if (!existsSync(join(prefix, 'include/node/node_api.h'))) {
  giveUp(`no node headers at ${join(prefix, 'include/node')}`);
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
if (nodeGyp === undefined) giveUp('node-gyp not found');

const args = [nodeGyp, 'rebuild', `--nodedir=${prefix}`, '--directory', addonDir];
console.log(`build-native: ${process.execPath} ${args.join(' ')}`);
const started = Date.now();
const result = spawnSync(process.execPath, args, {
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
});
if (result.status !== 0 || !existsSync(output)) {
  process.stderr.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  giveUp(`node-gyp exited with ${result.status ?? result.signal}`);
}
console.log(`build-native: built ${output} in ${Date.now() - started} ms`);
