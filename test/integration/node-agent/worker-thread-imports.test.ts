/**
 * The proxy's worker threads (media workers, L7 threads) load the data
 * plane's modules, not the node agent's control channel: grpc-js and
 * proto-loader cost a fresh thread 0.1-0.5 s to load (more under load), paid
 * by every worker, spare and restart. Each entry is imported in a fresh
 * worker thread, which then lists the CommonJS modules it loaded (grpc-js
 * is CommonJS: an ESM import of it lands in that thread's require.cache).
 * The node agent's index is the control: it does load grpc-js, so the check
 * can see it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { repoRoot } from '../../helpers/process.js';

const dist = (path: string): string => pathToFileURL(join(repoRoot, 'dist', path)).href;

/** The CommonJS modules a fresh thread has loaded after importing `urls`. */
async function cjsLoadedBy(urls: readonly string[]): Promise<string[]> {
  const source = `
    const { parentPort } = require('node:worker_threads');
    Promise.all(${JSON.stringify(urls)}.map((url) => import(url))).then(
      () => parentPort.postMessage(Object.keys(require('node:module')._cache)),
      (error) => parentPort.postMessage({ error: String(error) }),
    );`;
  const worker = new Worker(source, { eval: true });
  try {
    const message = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!Array.isArray(message))
      assert.fail(`import of ${urls.join(', ')} failed: ${JSON.stringify(message)}`);
    return message.map(String);
  } finally {
    await worker.terminate();
  }
}

const grpc = (paths: readonly string[]): string[] =>
  paths.filter((path) => path.includes('/@grpc/'));

describe('modules a worker thread loads', { timeout: 60_000 }, () => {
  it('the node agent index (the control) loads grpc-js', async () => {
    assert.ok(grpc(await cjsLoadedBy([dist('src/node-agent/index.js')])).length > 0);
  });

  // The thread entries start serving on import, so what they import is
  // checked: every module an entry imports at run time (read from its
  // compiled text), in one fresh thread.
  for (const entry of [
    'rtp-proxy/media/workers/media-worker.js',
    'rtp-proxy/l7/thread/l7-thread.js',
  ]) {
    it(`what ${entry} imports does not load grpc-js`, async () => {
      const text = readFileSync(join(repoRoot, 'dist', entry), 'utf8');
      const specifiers = [...text.matchAll(/^import (?!type )[^;]*?from '([^']+)';$/gms)]
        .map((match) => match[1] ?? '')
        .filter((specifier) => !specifier.startsWith('node:'));
      assert.ok(specifiers.length >= 3, `imports of ${entry}: ${specifiers.join(', ')}`);
      const base = pathToFileURL(join(repoRoot, 'dist', entry));
      const urls = specifiers.map((specifier) =>
        specifier.startsWith('.') ? new URL(specifier, base).href : import.meta.resolve(specifier),
      );
      assert.deepEqual(grpc(await cjsLoadedBy(urls)), []);
    });
  }
});
