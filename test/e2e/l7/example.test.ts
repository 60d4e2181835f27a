/**
 * examples/http-mesh.yaml under `streammesh up`, as a user runs it: three
 * node:http backends on 127.0.0.1:3001-3003, curl-like requests for host
 * "users" on 127.0.0.1:15001 over HTTP/1.1 and HTTP/2, the 90/10 canary split,
 * and the proxy's /metrics counting them per route and cluster.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { meshUp, type MeshUp } from '../../helpers/mesh-up.js';
import {
  clientAgent,
  http2Session,
  send,
  send2,
  startBackend,
  type Backend,
} from '../../helpers/l7-harness.js';

const EXAMPLE = 'examples/http-mesh.yaml';
const LISTENER_PORT = 15001;

describe('examples/http-mesh.yaml', () => {
  let backends: Backend[];
  let mesh: MeshUp;

  before(async () => {
    // The example's fixed ports: a test machine with them taken fails here, by name.
    backends = await Promise.all([
      startBackend('users-1', 3001),
      startBackend('users-2', 3002),
      startBackend('canary', 3003),
    ]);
    mesh = await meshUp(EXAMPLE);
  });

  after(async () => {
    clientAgent.destroy();
    await mesh.stop();
    await Promise.all(backends.map((backend) => backend.close()));
  });

  it('splits host "users" 90/10 between the two endpoints and the canary', async () => {
    const counts = new Map<string, number>();
    const total = 2_000;
    for (let sent = 0; sent < total; sent += 50) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => send(LISTENER_PORT, { host: 'users', path: '/v1/users' })),
      );
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        const name = answer.body.toString();
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    }
    const canary = (counts.get('canary') ?? 0) / total;
    assert.ok(Math.abs(canary - 0.1) <= 0.03, `canary got ${(canary * 100).toFixed(1)}%`);
    assert.ok((counts.get('users-1') ?? 0) > 600 && (counts.get('users-2') ?? 0) > 600);
    const metrics = await mesh.metrics();
    const line =
      /streammesh_http_requests_total\{[^}]*route="users",cluster="users-canary",code="200"[^}]*\} (\d+)/.exec(
        metrics,
      );
    assert.equal(Number(line?.[1]), counts.get('canary'));
  });

  it('names the listener in what `up` prints', async () => {
    await mesh.up.waitForOutput(/^ +http edge +http:\/\/127\.0\.0\.1:15001$/m, 2_000);
  });

  it('serves the same route over HTTP/2 prior knowledge, and 404 for another host', async () => {
    const session = http2Session(LISTENER_PORT);
    try {
      const answer = await send2(session, { host: 'users', path: '/v1/users' });
      assert.equal(answer.status, 200);
      assert.match(answer.body.toString(), /^(users-1|users-2|canary)$/);
    } finally {
      session.close();
    }
    const other = await send(LISTENER_PORT, { host: 'orders', path: '/' });
    assert.equal(other.status, 404);
  });
});
