/**
 * proxy.workers without the tcp-listen addon: one L7 thread serves every
 * listener (node's own listen()), and the proxy says so once. The addon is
 * hidden from a child process by a preload that makes every `.node` file
 * fail to load, as on a machine where `npm install` could not build it (a
 * fake of "not built": building it away here would take it from the other
 * tests). The child's proxy is real: its listener answers a request.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = fileURLToPath(new URL('../../../', import.meta.url));

describe('L7 workers without the tcp-listen addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'l7-fallback-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves with one thread and says why, once', () => {
    const preload = join(dir, 'no-native.cjs');
    writeFileSync(
      preload,
      "require('node:module')._extensions['.node'] = () => { throw new Error('native addons hidden by the test'); };\n",
    );
    const service = pathToFileURL(join(dist, 'rtp-proxy/l7/index.js')).href;
    const schema = pathToFileURL(join(dist, 'src/config/http-schema.js')).href;
    // A file, not --eval: the L7 thread inherits the process's flags, and --input-type would stop it.
    const resolve = createRequire(import.meta.url).resolve;
    const pino = pathToFileURL(resolve('pino')).href;
    const promClient = pathToFileURL(resolve('prom-client')).href;
    const script = join(dir, 'child.mjs');
    const code = `
      import { pino } from ${JSON.stringify(pino)};
      import { Registry } from ${JSON.stringify(promClient)};
      import { IsolatedHttpService } from ${JSON.stringify(service)};
      import { httpSchema } from ${JSON.stringify(schema)};
      const service = new IsolatedHttpService({
        role: 'proxy', log: pino({ level: 'info' }), metrics: new Registry(), workers: 2,
      });
      (await service.prepareHttp(httpSchema.parse({
        listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
        routes: [{ name: 'teapot', match: { path: { prefix: '/' } },
          action: { cluster: 'none', fault: { abort: { status: 418, percent: 100 } } } }],
        clusters: [{ name: 'none', endpoints: ['127.0.0.1:9'] }],
      }))).commit();
      const [edge] = await service.listeners();
      const response = await fetch('http://127.0.0.1:' + edge.port + '/', { signal: AbortSignal.timeout(5000) });
      console.log(JSON.stringify({ result: { workers: service.workers, status: response.status } }));
      await service.close();
    `;
    writeFileSync(script, code);
    const child = spawnSync(process.execPath, ['--require', preload, script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.status, 0, `${child.stdout}\n${child.stderr}`);
    const lines = child.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; result?: unknown });
    assert.deepEqual(
      lines.find((line) => line.result !== undefined)?.result,
      { workers: 1, status: 418 },
      child.stdout,
    );
    const said = lines.filter((line) => line.msg?.includes('tcp-listen addon is not built'));
    assert.equal(said.length, 1, child.stdout);
  });
});
