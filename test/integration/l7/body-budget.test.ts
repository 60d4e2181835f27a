/**
 * The listener's budget of bytes held in request-body copies (issue 14), on
 * real sockets with real node:http and node:http2 clients and backends: slow
 * uploads on a route with retries fill the budget; the ones whose copy does
 * not fit are still proxied but not retried, and counted; a small request
 * from another address, within the budget, is still served and retried; on
 * a mirrored route only the copies that fit are mirrored, in full (also when
 * the answer came before the body ended); and the budget's bytes return to 0
 * when the uploads end or are aborted.
 */
import assert from 'node:assert/strict';
import {
  Agent,
  request,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { type ClientHttp2Stream } from 'node:http2';
import { afterEach, describe, it } from 'node:test';
import {
  delay,
  http2Session,
  send,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

const LISTENER = 'edge';
const CHUNK = 10 * 1024;
/** Each upload sends this much, then waits: under the 64 KiB a request, so only the listener's budget stops it. */
const UPLOAD = 3 * CHUNK;
/** Room for three uploads' copies and a small request, not for a fourth upload. */
const BUDGET = 3 * UPLOAD + 8 * 1024;
const ATTEMPT = 'x-streammesh-attempt-count';

/**
 * Two backends that read each body to its end, then answer a first try 503
 * and a retry 200 with the length of the body they got: a request is 200
 * only if the proxy resent its body.
 */
async function startRetryBackends(): Promise<{
  backends: Backend[];
  received: Map<string, number>;
}> {
  const received = new Map<string, number>();
  const backends = [await startBackend('a'), await startBackend('b')];
  for (const backend of backends) {
    backend.handler = (req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? '';
      let bytes = 0;
      req.on('data', (part: Buffer) => {
        bytes += part.length;
        received.set(path, bytes);
      });
      req.on('end', () => {
        if (req.headers[ATTEMPT] === undefined) res.writeHead(503).end('first try');
        else res.writeHead(200).end(String(bytes));
      });
    };
  }
  return { backends, received };
}

function startBudgetProxy(backends: readonly Backend[]): Promise<RunningProxy> {
  return startProxy({
    listeners: [{ name: LISTENER, listen: '127.0.0.1:0', maxBufferedBodyBytes: BUDGET }],
    routes: [
      {
        name: 'upload',
        match: { path: { prefix: '/' } },
        action: {
          cluster: 'main',
          retries: { attempts: 1, on: ['5xx'], backoff: { baseMs: 1, maxMs: 5 } },
        },
      },
    ],
    clusters: [
      {
        name: 'main',
        endpoints: backends.map((backend) => backend.address),
        // Every first try fails on purpose: neither the breaker nor ejection may get in the way.
        circuitBreaker: { maxRetries: 1000 },
        outlier: { consecutive5xx: 1000 },
      },
    ],
    retryBudget: { percent: 100, minConcurrency: 1000 },
  });
}

interface Upload {
  readonly req: ClientRequest;
  readonly answer: Promise<{ status: number; body: string }>;
}

/** A chunked PUT from `localAddress` whose body is written later, by the test. */
function startUpload(port: number, path: string, localAddress = '127.0.0.1'): Upload {
  const req = request({
    host: '127.0.0.1',
    port,
    path,
    method: 'PUT',
    localAddress,
    agent: false,
    headers: { host: 'svc', 'transfer-encoding': 'chunked' },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer to ${path} in 10 s`));
    }, 10_000);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (part: string) => (body += part));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  // An aborted upload rejects; the test that aborts it does not await it.
  answer.catch(() => undefined);
  req.flushHeaders();
  return { req, answer };
}

/** Polls `done` every 10 ms until it holds; fails after `waitMs`. */
async function waitFor(
  what: string,
  done: () => boolean | Promise<boolean>,
  waitMs = 5_000,
): Promise<void> {
  const deadline = performance.now() + waitMs;
  while (!(await done())) {
    assert.ok(performance.now() < deadline, `timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('L7 listener body-copy budget', () => {
  const backends: Backend[] = [];
  let proxy: RunningProxy | undefined;

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    for (const backend of backends.splice(0)) await backend.close();
  });

  const buffered = (): Promise<number> =>
    proxy === undefined
      ? Promise.resolve(Number.NaN)
      : proxy.metric('streammesh_http_buffered_body_bytes', { listener: LISTENER });

  it('proxies uploads whose copy does not fit without retrying them, counts them, and still retries one that fits', async () => {
    const started = await startRetryBackends();
    backends.push(...started.backends);
    const { received } = started;
    proxy = await startBudgetProxy(backends);
    const running = proxy;
    const abandoned = { listener: LISTENER, reason: 'listener_budget_full' };

    // Uploads one after another, each holding UPLOAD bytes: three copies fit, the rest do not.
    const uploads: Upload[] = [];
    const count = 6;
    for (let i = 0; i < count; i += 1) {
      const upload = startUpload(running.port, `/up/${i}`);
      uploads.push(upload);
      for (let sent = 0; sent < UPLOAD; sent += CHUNK) upload.req.write(Buffer.alloc(CHUNK, i));
      // The recorder sees each chunk before the upstream does.
      await waitFor(`upload ${i} at the backend`, () => received.get(`/up/${i}`) === UPLOAD);
    }
    assert.equal(await buffered(), 3 * UPLOAD);
    assert.equal(running.service.listeners.get(LISTENER)?.bufferedBodyBytes, 3 * UPLOAD);
    assert.equal(
      await running.metric('streammesh_http_body_copies_abandoned_total', abandoned),
      count - 3,
    );

    // Another client, within what is left, is kept, retried and served.
    const small = await send(running.port, {
      host: 'svc',
      path: '/small',
      method: 'PUT',
      body: Buffer.alloc(4 * 1024, 7),
    });
    assert.equal(small.status, 200);
    assert.equal(small.body.toString(), String(4 * 1024));

    // From another address too, while the three copies are still held.
    const other = startUpload(running.port, '/other', '127.0.0.2');
    other.req.end(Buffer.alloc(4 * 1024, 9));
    assert.deepEqual(await other.answer, { status: 200, body: String(4 * 1024) });

    for (const upload of uploads) upload.req.end();
    const answers = await Promise.all(uploads.map((upload) => upload.answer));
    // The first three kept their copies: resent in full on the retry.
    assert.deepEqual(
      answers.slice(0, 3),
      Array.from({ length: 3 }, () => ({ status: 200, body: String(UPLOAD) })),
    );
    // The others reached the backend in full, once, and were not retried.
    for (let i = 3; i < count; i += 1) {
      assert.equal(answers[i]?.status, 503, `upload ${i}`);
      const tries = backends
        .flatMap((backend) => backend.seen)
        .filter((seen) => seen.path === `/up/${i}`);
      assert.equal(tries.length, 1, `upload ${i} was tried ${tries.length} times`);
    }
    assert.equal(
      await running.metric('streammesh_http_retries_total', { result: 'body_not_replayable' }),
      count - 3,
    );
    assert.equal(
      await running.metric('streammesh_http_body_copies_abandoned_total', abandoned),
      count - 3,
    );
    await waitFor('the budget back at 0', async () => (await buffered()) === 0);
  });

  it('mirrors the uploads whose copy fits, in full, and not the ones over the budget', async () => {
    const primary = await startBackend('primary');
    const shadow = await startBackend('shadow');
    backends.push(primary, shadow);
    const mirrored = new Map<string, number>();
    shadow.handler = (req: IncomingMessage, res: ServerResponse) => {
      let bytes = 0;
      req.on('data', (part: Buffer) => (bytes += part.length));
      req.on('end', () => {
        mirrored.set(req.url ?? '', bytes);
        res.end();
      });
    };
    proxy = await startProxy({
      listeners: [{ name: LISTENER, listen: '127.0.0.1:0', maxBufferedBodyBytes: BUDGET }],
      routes: [
        {
          name: 'mirrored',
          match: { path: { prefix: '/' } },
          action: { cluster: 'primary', mirror: { cluster: 'shadow' } },
        },
      ],
      clusters: [
        { name: 'primary', endpoints: [primary.address] },
        { name: 'shadow', endpoints: [shadow.address] },
      ],
    });
    const running = proxy;
    const uploads: Upload[] = [];
    const count = 5;
    for (let i = 0; i < count; i += 1) {
      const upload = startUpload(running.port, `/m/${i}`);
      uploads.push(upload);
      for (let sent = 0; sent < UPLOAD; sent += CHUNK) upload.req.write(Buffer.alloc(CHUNK, i));
      await waitFor(`upload ${i} through the proxy`, async () => {
        const abandoned = await running.metric('streammesh_http_body_copies_abandoned_total', {
          listener: LISTENER,
        });
        return (
          (await buffered()) === Math.min(i + 1, 3) * UPLOAD && abandoned === Math.max(0, i - 2)
        );
      });
    }
    for (const upload of uploads) upload.req.end();
    const answers = await Promise.all(uploads.map((upload) => upload.answer));
    assert.ok(answers.every((answer) => answer.status === 200));
    assert.equal(primary.seen.length, count);
    await waitFor('three copies at the mirror', () => mirrored.size === 3);
    await delay(100);
    assert.deepEqual(
      [...mirrored.entries()].sort(),
      [0, 1, 2].map((i) => [`/m/${i}`, UPLOAD]),
    );
    await waitFor('the budget back at 0', async () => (await buffered()) === 0);
  });

  it('keeps the copy of a request answered before its body ended until the mirror has it', async () => {
    const primary = await startBackend('primary');
    const shadow = await startBackend('shadow');
    backends.push(primary, shadow);
    // Answers at once; the client's body goes on after the answer.
    primary.handler = (req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200).end('early');
      req.resume();
    };
    const mirrored: number[] = [];
    shadow.handler = (req: IncomingMessage, res: ServerResponse) => {
      let bytes = 0;
      req.on('data', (part: Buffer) => (bytes += part.length));
      req.on('end', () => {
        mirrored.push(bytes);
        res.end();
      });
    };
    proxy = await startProxy({
      listeners: [{ name: LISTENER, listen: '127.0.0.1:0', maxBufferedBodyBytes: BUDGET }],
      routes: [
        {
          name: 'mirrored',
          match: { path: { prefix: '/' } },
          action: { cluster: 'primary', mirror: { cluster: 'shadow' } },
        },
      ],
      clusters: [
        { name: 'primary', endpoints: [primary.address] },
        { name: 'shadow', endpoints: [shadow.address] },
      ],
    });
    const running = proxy;
    // Keep-alive, so the connection outlives the answer and the body can finish.
    const agent = new Agent({ keepAlive: true });
    try {
      const req = request({
        host: '127.0.0.1',
        port: running.port,
        path: '/early',
        method: 'PUT',
        agent,
        headers: { host: 'svc', 'transfer-encoding': 'chunked' },
      });
      req.on('error', () => undefined);
      const answered = new Promise<number>((resolve) => {
        req.once('response', (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
        });
      });
      req.write(Buffer.alloc(CHUNK, 1));
      assert.equal(await answered, 200);
      // The answer is complete; the copy is still held for the mirror.
      assert.equal(await buffered(), CHUNK);
      req.end(Buffer.alloc(CHUNK, 2));
      await waitFor('the copy at the mirror', () => mirrored.length === 1);
      assert.deepEqual(mirrored, [2 * CHUNK]);
      await waitFor('the budget back at 0', async () => (await buffered()) === 0);
    } finally {
      agent.destroy();
    }
  });

  it('gives every byte back when uploads are aborted mid-body, over HTTP/1.1 and HTTP/2', async () => {
    const started = await startRetryBackends();
    backends.push(...started.backends);
    const { received } = started;
    proxy = await startBudgetProxy(backends);
    const running = proxy;

    const h1 = startUpload(running.port, '/abort/h1');
    h1.req.write(Buffer.alloc(CHUNK, 1));
    h1.req.write(Buffer.alloc(CHUNK, 1));
    const session = http2Session(running.port);
    try {
      const streams: ClientHttp2Stream[] = [];
      for (let i = 0; i < 2; i += 1) {
        const stream = session.request({
          ':method': 'PUT',
          ':path': `/abort/h2/${i}`,
          ':authority': 'svc',
        });
        stream.on('error', () => undefined);
        stream.write(Buffer.alloc(CHUNK, 2));
        streams.push(stream);
      }
      await waitFor('the uploads at the backend', () =>
        ['/abort/h1', '/abort/h2/0', '/abort/h2/1'].every(
          (path) => (received.get(path) ?? 0) >= (path === '/abort/h1' ? 2 * CHUNK : CHUNK),
        ),
      );
      assert.equal(await buffered(), 4 * CHUNK);

      // One stream reset by the client, the HTTP/1.1 connection cut.
      streams[0]?.close();
      h1.req.destroy();
      await waitFor('two aborted copies released', async () => (await buffered()) === CHUNK);
      // The last one goes with its whole session.
      session.destroy();
      await waitFor('the budget back at 0', async () => (await buffered()) === 0);
      assert.equal(running.service.listeners.get(LISTENER)?.bufferedBodyBytes, 0);
    } finally {
      session.destroy();
    }

    // The budget is whole again: a full budget's worth of uploads is kept and retried.
    const again = Array.from({ length: 3 }, (_, i) => startUpload(running.port, `/again/${i}`));
    for (const upload of again) upload.req.end(Buffer.alloc(UPLOAD, 3));
    const answers = await Promise.all(again.map((upload) => upload.answer));
    assert.deepEqual(
      answers,
      Array.from({ length: 3 }, () => ({ status: 200, body: String(UPLOAD) })),
    );
    assert.equal(
      await running.metric('streammesh_http_body_copies_abandoned_total', { listener: LISTENER }),
      0,
    );
    await waitFor('the budget back at 0', async () => (await buffered()) === 0);
  });
});
