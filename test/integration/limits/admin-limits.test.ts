/**
 * Issue 17, point 7, on an admin listener: requests per source address at
 * the fixed ADMIN_REQUEST_RATE. A source that sends more than its burst at
 * once gets 429 with Retry-After for the rest, each counted in
 * streammesh_rate_limited_requests_total{listener="admin"}; what it got
 * through is at least the burst and at most the burst plus what the rate
 * gave back while it sent;
 * another source (127.0.0.2) is served meanwhile.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  ADMIN_REQUEST_RATE,
  AdminServer,
  adminConnectionBudget,
} from '../../../src/shared/admin/server.js';
import { createLogger } from '../../../src/shared/log.js';
import { metricValue } from '../../helpers/signaling-client.js';

const FLOODER = '127.0.0.1';
const OTHER = '127.0.0.2';

function get(
  port: number,
  path: string,
  localAddress: string,
  agent: Agent | false = false,
): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, path, localAddress, agent },
      (response) => {
        response.resume();
        response.once('end', () => {
          resolve({
            status: response.statusCode ?? 0,
            retryAfter: response.headers['retry-after'],
          });
        });
      },
    );
    request.once('error', reject);
    request.end();
  });
}

describe('admin listener: requests per source', () => {
  const metrics = new Registry();
  const admin = new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics,
    log: createLogger('test', 'silent'),
    readiness: () => ({ ready: true }),
  });
  let port = 0;

  before(async () => {
    port = (await admin.listen()).port;
  });

  after(async () => {
    await admin.close();
  });

  it('answers 429 with Retry-After over the rate, counted, and serves the other source', async () => {
    const { burst, perSecond } = ADMIN_REQUEST_RATE;
    // Kept-alive connections (a 429 closes its own), under the per-source connection budget.
    const agent = new Agent({
      keepAlive: true,
      maxSockets: adminConnectionBudget.maxPerSource - 4,
    });
    const batch = adminConnectionBudget.maxPerSource - 4;
    const statuses: number[] = [];
    const retryAfters = new Set<string | undefined>();
    const started = performance.now();
    let otherServed = false;
    // Until the source has been refused a batch's worth: a loaded machine sends slower.
    while (statuses.filter((status) => status === 429).length < batch) {
      assert.ok(statuses.length < burst * 50, `${statuses.length} requests and still no refusal`);
      const answers = await Promise.all(
        Array.from({ length: batch }, () => get(port, '/healthz', FLOODER, agent)),
      );
      for (const answer of answers) {
        statuses.push(answer.status);
        if (answer.status === 429) retryAfters.add(answer.retryAfter);
      }
      // The other source, in the middle of the flood: served.
      if (!otherServed && statuses.includes(429)) {
        assert.equal((await get(port, '/healthz', OTHER)).status, 200);
        otherServed = true;
      }
    }
    agent.destroy();
    assert.ok(otherServed);
    const total = statuses.length;
    const elapsedSec = (performance.now() - started) / 1000;
    const allowed = statuses.filter((status) => status === 200).length;
    const refused = statuses.filter((status) => status === 429).length;
    assert.equal(allowed + refused, total, `only 200 and 429: ${[...new Set(statuses)].join()}`);
    assert.ok(allowed >= burst, `${allowed} allowed, the burst is ${burst}`);
    assert.ok(
      allowed <= burst + Math.ceil(perSecond * elapsedSec) + 1,
      `${allowed} allowed in ${elapsedSec.toFixed(2)} s at ${perSecond}/s after a burst of ${burst}`,
    );
    for (const value of retryAfters) assert.ok(Number(value) >= 1, `Retry-After ${value}`);
    assert.equal(
      await metricValue(metrics, 'streammesh_rate_limited_requests_total', '{listener="admin"}'),
      refused,
    );
    assert.equal((await get(port, '/metrics', OTHER)).status, 200);
  });
});
