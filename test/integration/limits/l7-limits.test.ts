/**
 * Requests per source on an L7 listener (issue 17, point 7), on real
 * sockets: with requestsPerSecondPerSource, a source that sends more than
 * its burst gets 429 with Retry-After (HTTP/1.1 and HTTP/2 streams alike),
 * each refusal counted (streammesh_rate_limited_requests_total{listener="l7"}
 * and the listener's rate_limited refusals) and none reaching the backend;
 * another source address is served meanwhile, over HTTP/2 with the frame
 * guard too (which hides the socket's address from the session); a listener
 * without the setting is not limited.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  http2Session,
  send2,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

const RATE = 2;
const BURST = 6;

/** One GET from `localAddress` on a fresh connection: status and Retry-After. */
function get(
  port: number,
  localAddress: string,
): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/x',
        localAddress,
        agent: new Agent({ keepAlive: false }),
        timeout: 5_000,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'],
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('L7 requests per source', () => {
  let backend: Backend;
  let proxy: RunningProxy;

  before(async () => {
    backend = await startBackend('app');
    proxy = await startProxy({
      listeners: [
        {
          name: 'limited',
          listen: '127.0.0.1:0',
          requestsPerSecondPerSource: RATE,
          requestBurstPerSource: BURST,
        },
        { name: 'open', listen: '127.0.0.1:0' },
        {
          name: 'guarded',
          listen: '127.0.0.1:0',
          checkHttp2Frames: 'guard',
          requestsPerSecondPerSource: RATE,
          requestBurstPerSource: BURST,
        },
      ],
      routes: [{ name: 'main', match: { path: { prefix: '/' } }, action: { cluster: 'main' } }],
      clusters: [{ name: 'main', endpoints: [backend.address] }],
    });
  });

  after(async () => {
    await proxy.close();
    await backend.close();
  });

  it('answers 429 with Retry-After past the burst, counted, while another source is served', async () => {
    const port = proxy.portOf('limited');
    const seenBefore = backend.seen.length;
    const answers = [];
    for (let i = 0; i < 20; i += 1) answers.push(await get(port, '127.0.0.1'));
    const allowed = answers.filter((answer) => answer.status === 200).length;
    const refused = answers.filter((answer) => answer.status === 429);
    // The burst, plus what the rate gave back while the requests were sent.
    assert.ok(allowed >= BURST && allowed <= BURST + 4, `allowed ${allowed}`);
    assert.equal(allowed + refused.length, 20);
    for (const answer of refused) assert.match(answer.retryAfter ?? '', /^[1-9]\d*$/);
    assert.equal(backend.seen.length - seenBefore, allowed, 'no refused request reached it');
    assert.equal((await get(port, '127.0.0.2')).status, 200, 'another source is served');
    assert.equal(
      await proxy.metric('streammesh_rate_limited_requests_total', { listener: 'l7' }),
      refused.length,
    );
    assert.equal(
      await proxy.metric('streammesh_http_refused_requests_total', {
        listener: 'limited',
        reason: 'rate_limited',
      }),
      refused.length,
    );
  });

  it('counts HTTP/2 streams as requests', async () => {
    const port = proxy.portOf('limited');
    const session = http2Session(port);
    try {
      // Streams of one connection at once: at most a burst of them is served.
      const answers = await Promise.all(
        Array.from({ length: 2 * BURST + 2 }, () => send2(session, { host: 'app', path: '/h2' })),
      );
      const refused = answers.filter((answer) => answer.status === 429);
      assert.ok(refused.length >= BURST + 2, `refused ${refused.length}`);
      for (const answer of refused) {
        assert.match(String(answer.headers['retry-after']), /^[1-9]\d*$/);
      }
    } finally {
      session.close();
    }
  });

  it('keeps HTTP/2 sources apart behind the frame guard', async () => {
    const port = proxy.portOf('guarded');
    const statuses = async (localAddress: string, count: number): Promise<number[]> => {
      const session = http2Connect(`http://127.0.0.1:${port}`, {
        createConnection: () => netConnect({ host: '127.0.0.1', port, localAddress }),
      });
      session.on('error', () => undefined);
      try {
        const answers = await Promise.all(
          Array.from({ length: count }, () => send2(session, { host: 'app', path: '/g' })),
        );
        return answers.map((answer) => answer.status);
      } finally {
        session.close();
      }
    };
    const first = await statuses('127.0.0.5', 2 * BURST + 2);
    assert.ok(first.filter((status) => status === 429).length >= BURST + 2, first.join(','));
    // Another address has a burst of its own (with one bucket for all, it would be refused).
    assert.deepEqual(await statuses('127.0.0.6', 2), [200, 200]);
  });

  it('leaves a listener without the setting unlimited', async () => {
    const port = proxy.portOf('open');
    for (let i = 0; i < 3 * BURST; i += 1) {
      assert.equal((await get(port, '127.0.0.1')).status, 200);
    }
  });
});
