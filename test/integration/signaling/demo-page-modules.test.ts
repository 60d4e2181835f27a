/**
 * The demo page's logic that needs no browser, run in Node: each module is
 * bundled from signaling/demo/page with esbuild (as scripts/build-demo.mjs
 * bundles the page; the page is outside this tsconfig) and imported. An
 * integration test: esbuild runs as a child process, which unit tests may
 * not start.
 *
 * - Liveness: a node that stops answering `ping` is given up after
 *   `maxUnanswered` unanswered pings in a row, never while it answers, and
 *   never after stop().
 * - SignalingClient.open: a WebSocket the browser refuses synchronously
 *   (SecurityError: connect-src) rejects with SignalingError 'closed',
 *   which the page takes as "unreachable: try the next door".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';

/** signaling/demo/page, from dist/test/integration/signaling. */
const PAGE = fileURLToPath(new URL('../../../../signaling/demo/page/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'demo-page-test-'));

/** The page module `name` (e.g. 'liveness'), bundled and imported. */
async function pageModule<T>(name: string): Promise<T> {
  const result = await build({
    entryPoints: [join(PAGE, `${name}.ts`)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  assert.ok(output !== undefined);
  const file = join(scratch, `${name}.mjs`);
  writeFileSync(file, output.text);
  return (await import(pathToFileURL(file).href)) as T;
}

interface LivenessModule {
  Liveness: new (
    ping: () => Promise<unknown>,
    gone: (reason: string) => void,
    options: { intervalMs: number; maxUnanswered: number },
  ) => { start(): void; stop(): void };
}

interface SignalingClientModule {
  SignalingClient: { open(url: string): Promise<unknown> };
  SignalingError: new (...args: never[]) => Error & { code: string };
}

const INTERVAL_MS = 20;
const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('demo page: Liveness', () => {
  it('gives the node up after maxUnanswered pings in a row get no answer, once', async () => {
    const { Liveness } = await pageModule<LivenessModule>('liveness');
    let pings = 0;
    const reasons: string[] = [];
    const liveness = new Liveness(
      () => {
        pings += 1;
        return new Promise(() => undefined); // a vanished host: never answers
      },
      (reason) => reasons.push(reason),
      { intervalMs: INTERVAL_MS, maxUnanswered: 2 },
    );
    liveness.start();
    for (let waited = 0; reasons.length === 0 && waited < 2_000; waited += INTERVAL_MS) {
      await sleep(INTERVAL_MS);
    }
    assert.equal(reasons.length, 1, 'given up');
    assert.equal(pings, 2, 'after two unanswered pings, not before');
    await sleep(INTERVAL_MS * 5);
    assert.equal(reasons.length, 1, 'given up once: it stopped');
    assert.equal(pings, 2, 'and pings no more');
  });

  it('never gives up a node that answers', async () => {
    const { Liveness } = await pageModule<LivenessModule>('liveness');
    let pings = 0;
    let gone = false;
    const liveness = new Liveness(
      () => {
        pings += 1;
        return Promise.resolve({});
      },
      () => {
        gone = true;
      },
      { intervalMs: INTERVAL_MS, maxUnanswered: 2 },
    );
    liveness.start();
    await sleep(INTERVAL_MS * 15);
    liveness.stop();
    assert.ok(pings >= 5, `it pinged (${pings})`);
    assert.equal(gone, false);
  });

  it('says nothing after stop()', async () => {
    const { Liveness } = await pageModule<LivenessModule>('liveness');
    let gone = false;
    const liveness = new Liveness(
      () => new Promise(() => undefined),
      () => {
        gone = true;
      },
      { intervalMs: INTERVAL_MS, maxUnanswered: 2 },
    );
    liveness.start();
    await sleep(INTERVAL_MS * 1.5);
    liveness.stop();
    await sleep(INTERVAL_MS * 5);
    assert.equal(gone, false);
  });
});

describe('demo page: SignalingClient.open', () => {
  it("rejects with SignalingError 'closed' when the browser refuses the WebSocket at once", async () => {
    const { SignalingClient, SignalingError } =
      await pageModule<SignalingClientModule>('signaling-client');
    const globals = globalThis as { WebSocket?: unknown };
    const saved = globals.WebSocket;
    // What Chromium's constructor does for a URL outside connect-src.
    globals.WebSocket = function RefusedWebSocket(url: string): never {
      throw new DOMException(`Refused to connect to '${url}' (connect-src)`, 'SecurityError');
    };
    try {
      const error = await SignalingClient.open('ws://127.0.0.1:1/ws').then(
        () => assert.fail('opened'),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof SignalingError, `a SignalingError: ${String(error)}`);
      assert.equal(error.code, 'closed');
      assert.match(error.message, /connect-src/);
    } finally {
      globals.WebSocket = saved;
    }
  });
});
