/**
 * bench:http's bare Node proxy (loadtests/http/bare-proxy.ts) against the
 * bench's real nginx backend: the baseline streammesh's requests/s per core
 * is measured against must forward all three protocols whole (HTTP/1.1 body,
 * HTTP/2 body, gRPC status and message, which travel in trailers), or its
 * maxima would count requests that never went through. The same smoke check
 * (smoke.ts) gates every target before bench:http loads it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startNginx } from '../../../loadtests/http/backends.js';
import { PROTOCOLS, type Listeners } from '../../../loadtests/http/endpoints.js';
import type { PeerServer } from '../../../loadtests/http/processes.js';
import { startBareNode } from '../../../loadtests/http/proxies.js';
import { checkAnswers } from '../../../loadtests/http/smoke.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { freePort } from '../../helpers/ports.js';

describe('bench:http bare Node proxy', { timeout: 60_000 }, () => {
  let dir = '';
  const servers: PeerServer[] = [];
  let backends: Listeners = { http1: 0, http2: 0, grpc: 0 };
  let listeners: Listeners = { http1: 0, http2: 0, grpc: 0 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bare-proxy-test-'));
    backends = { http1: await freePort(), http2: await freePort(), grpc: await freePort() };
    listeners = { http1: await freePort(), http2: await freePort(), grpc: await freePort() };
    servers.push(await startNginx(dir, backends, 60_000));
    servers.push(await startBareNode(listeners, backends, 60_000));
  });

  after(async () => {
    for (const server of servers.reverse()) await server.stop();
    await stopAllPeers();
    await rm(dir, { recursive: true, force: true });
  });

  for (const protocol of PROTOCOLS) {
    it(`forwards ${protocol} with the backend's answer`, async () => {
      await checkAnswers(protocol, backends[protocol]);
      await checkAnswers(protocol, listeners[protocol]);
    });
  }

  it('answers 502 rather than hanging or dying when the backend is gone', async () => {
    const nginx = servers[0];
    assert.ok(nginx !== undefined);
    await nginx.stop();
    const response = await fetch(`http://127.0.0.1:${listeners.http1}/`, {
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(response.status, 502);
    await assert.rejects(checkAnswers('http2', listeners.http2));
    assert.ok(servers[1]?.running(), 'the bare proxy still runs');
  });
});
