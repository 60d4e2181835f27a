/**
 * The admin listener's own defences: its connection budget (per source
 * address, head timeout), counted in /metrics, while a user from another
 * loopback address is served; and the refusal to bind beyond loopback
 * without an admin token, naming the setting. `up` prints where the token
 * is, never the token.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { AdminServer } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { ephemeralMeshConfig, writeTempConfig } from '../../helpers/mesh-config.js';
import { runStreammesh, startStreammesh } from '../../helpers/process.js';

const budget = { maxConnections: 16, maxPerSource: 3, headTimeoutMs: 400 };

function openIdle(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
    socket.on('error', reject);
  });
}

function closed(socket: Socket): Promise<number> {
  const opened = performance.now();
  return new Promise((resolve) => {
    if (socket.destroyed) resolve(0);
    socket.on('close', () => resolve(performance.now() - opened));
  });
}

function healthz(port: number, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const get = request(
      { host: '127.0.0.1', port, path: '/healthz', localAddress, agent: false },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    get.on('error', reject);
    get.end();
  });
}

function counted(metrics: string, reason: string): number {
  const match = new RegExp(
    `^streammesh_listener_refused_connections_total\\{listener="admin",reason="${reason}"\\} (\\d+)$`,
    'm',
  ).exec(metrics);
  return Number(match?.[1] ?? 0);
}

describe('admin listener budget', () => {
  const metrics = new Registry();
  const admin = new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics,
    log: createLogger('test', 'silent'),
    readiness: () => ({ ready: true }),
    budget,
  });
  let port: number;

  before(async () => {
    port = (await admin.listen()).port;
  });
  after(() => admin.close());

  it('refuses a source over its cap and closes idle sockets at the head timeout, serving 127.0.0.2', async () => {
    const idle = await Promise.all(
      Array.from({ length: budget.maxPerSource }, () => openIdle(port, '127.0.0.1')),
    );
    const closes = idle.map(closed);
    // One more from the same source is refused at once...
    const extra = await openIdle(port, '127.0.0.1');
    const extraClosedMs = await closed(extra);
    assert.ok(extraClosedMs < budget.headTimeoutMs, `refused after ${extraClosedMs} ms`);
    // ...while another source is served.
    assert.equal(await healthz(port, '127.0.0.2'), 200);
    // The idle ones are closed at the head timeout, not kept.
    const idleMs = await Promise.all(closes);
    for (const ms of idleMs) {
      assert.ok(ms >= budget.headTimeoutMs * 0.9 && ms < budget.headTimeoutMs + 1_000, `${ms}`);
    }
    // With the slots back, the first source is served again.
    assert.equal(await healthz(port, '127.0.0.1'), 200);
    const text = await metrics.metrics();
    assert.equal(counted(text, 'max_per_source'), 1);
    assert.equal(counted(text, 'head_timeout'), budget.maxPerSource);
  });
});

describe('admin listener bind and token path', () => {
  const stateHome = mkdtempSync(join(tmpdir(), 'streammesh-state-'));
  const env = { XDG_STATE_HOME: stateHome, STREAMMESH_ADMIN_TOKEN: '' };

  it('a node refuses to bind its admin listener beyond loopback without a token, naming the setting', async () => {
    const file = writeTempConfig('proxy:\n  admin: 0.0.0.0:0\n  rtsp: { enabled: false }\n');
    const result = await runStreammesh(['proxy', '--config', file], env);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^proxy\.admin: 0\.0\.0\.0:0 is not a loopback address; an admin listener binds beyond loopback only with an admin token \(set STREAMMESH_ADMIN_TOKEN/,
    );
  });

  it('up prints where the token is once, and never the token', async () => {
    const up = startStreammesh(['up', '--config', writeTempConfig(ephemeralMeshConfig())], env);
    try {
      const [, path] = await up.waitForOutput(/^ +admin token +(\S+)$/m, 15_000);
      assert.equal(path, join(stateHome, 'streammesh', 'admin-token'));
      await up.waitForOutput(/^signaling +ready/m, 30_000);
      const token = readFileSync(path, 'utf8').trim();
      assert.equal(up.stdout().match(/admin token/g)?.length, 1);
      assert.ok(!(up.stdout() + up.stderr()).includes(token), 'the token is in no output');
    } finally {
      await up.stop('SIGTERM', 5_000);
    }
  });
});
