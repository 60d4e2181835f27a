/**
 * The control plane's gRPC listener keeps a connection budget (issue 14):
 * sockets that send nothing, part of the HTTP/2 preface, or the preface and
 * SETTINGS but no call are closed at the head timeout; connections over the
 * per-source and total caps are refused at once; each is counted in
 * streammesh_listener_refused_connections_total{listener="grpc",reason}.
 * A real node (ControlClient) from another source address registers and
 * receives its config meanwhile, and a node holding its resource stream is
 * not cut when the head timeout has long passed.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { parseConfigText, type ResourceRef } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { ControlClient } from '../../../src/node-agent/control-client.js';
import type { ResourceUpdate } from '../../../src/protocol/mesh/index.js';
import { formatHostPort, httpUrl, type HostPort } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { Backoff } from '../../../src/shared/backoff.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getText, putText } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
/** An empty SETTINGS frame: length 0, type 4, flags 0, stream 0. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
/** How long a raw socket is watched before the test calls it "still open". */
const WATCH_MS = 5_000;

interface GrpcBudget {
  readonly maxConnections?: number;
  readonly maxPerSource?: number;
  readonly headTimeoutMs?: number;
}

class Plane {
  readonly running: RunningControlPlane;
  readonly #token: string;

  private constructor(running: RunningControlPlane, token: string) {
    this.running = running;
    this.#token = token;
  }

  static configText(budget: GrpcBudget, logLevel = 'silent'): string {
    return [
      `logLevel: ${logLevel}`,
      'controlPlane:',
      // Scripted nodes speak plaintext gRPC: this test is about the push protocol, not mTLS.
      '  mtls: false',
      '  admin: 127.0.0.1:0',
      '  grpc: 127.0.0.1:0',
      '  heartbeatIntervalMs: 200',
      `  grpcMaxConnections: ${budget.maxConnections ?? 1024}`,
      `  grpcMaxConnectionsPerSource: ${budget.maxPerSource ?? 256}`,
      `  grpcHeadTimeoutMs: ${budget.headTimeoutMs ?? 10_000}`,
    ].join('\n');
  }

  static async start(budget: GrpcBudget): Promise<Plane> {
    const token = newAdminToken();
    const running = await startControlPlane({
      config: parseConfigText(Plane.configText(budget), 'grpc budget test'),
      log: createLogger('control-plane', 'silent'),
      // The PUT below changes logLevel; the test's output stays quiet.
      env: { STREAMMESH_LOG_LEVEL: 'silent' },
      credentials: AdminCredentials.ofToken(token),
    });
    return new Plane(running, token);
  }

  get grpc(): HostPort {
    return this.running.grpc;
  }

  /** streammesh_listener_refused_connections_total{listener="grpc",reason} as now on /metrics. */
  async refused(reason: string): Promise<number> {
    const { text } = await getText(`${httpUrl(this.running.admin)}/metrics`);
    for (const line of text.split('\n')) {
      if (!line.startsWith('streammesh_listener_refused_connections_total{')) continue;
      if (!line.includes('listener="grpc"') || !line.includes(`reason="${reason}"`)) continue;
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return 0;
  }

  /** Writes a config that differs in logLevel only: a new MESH_SETTINGS for every node. */
  async changeConfig(budget: GrpcBudget, logLevel: string): Promise<string> {
    const put = await putText<{ version: string; changed: boolean }>(
      `${httpUrl(this.running.admin)}/config`,
      Plane.configText(budget, logLevel),
      this.#token,
    );
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.ok(put.body.changed);
    return put.body.version;
  }

  close(): Promise<void> {
    return this.running.close();
  }
}

/** A raw TCP connection to the gRPC port and when (ms after connecting) it was closed. */
interface RawConnection {
  readonly socket: Socket;
  /** ms from connected to closed by the server, or undefined if still open after WATCH_MS. */
  readonly closedAfterMs: Promise<number | undefined>;
}

async function openRaw(
  target: HostPort,
  localAddress: string,
  send?: Buffer | string,
): Promise<RawConnection> {
  const socket = connect({ host: target.host, port: target.port, localAddress });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined); // the server's SETTINGS, if it gets that far
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const connectedAt = performance.now();
  if (send !== undefined) socket.write(send);
  const closedAfterMs = new Promise<number | undefined>((resolve) => {
    const watch = setTimeout(() => resolve(undefined), WATCH_MS);
    socket.once('close', () => {
      clearTimeout(watch);
      resolve(performance.now() - connectedAt);
    });
  });
  return { socket, closedAfterMs };
}

/**
 * A TCP hop whose connections reach `target` from `localAddress`: grpc-js
 * has no client option for the source address, so a real node dials this.
 */
async function sourceHop(target: HostPort, localAddress: string): Promise<Server> {
  const hop = createServer((inbound) => {
    const outbound = connect({ host: target.host, port: target.port, localAddress });
    const both = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', both).on('close', both);
    outbound.on('error', both).on('close', both);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => hop.listen(0, '127.0.0.1', resolve));
  return hop;
}

function hopAddress(hop: Server): string {
  const address = hop.address();
  assert.ok(typeof address === 'object' && address !== null);
  return `127.0.0.1:${address.port}`;
}

/** A real node's control client that records the updates it is sent and ACKs them all. */
class RecordingNode {
  readonly updates: ResourceUpdate[] = [];
  readonly metrics = new Registry();
  readonly client: ControlClient;
  #held: ResourceRef[] = [];

  constructor(address: string, id: string) {
    this.client = new ControlClient({
      address,
      identity: { id, node: 'test-host', role: 'ROLE_PROXY' },
      capabilities: [],
      listenAddresses: {},
      currentVersion: () => this.updates.at(-1)?.systemVersion ?? '',
      heldResources: () => this.#held,
      apply: (update) => {
        this.updates.push(update);
        this.#held = update.resources.map(({ type, name, version }) => ({
          type: type as ResourceRef['type'],
          name,
          version,
        }));
        return Promise.resolve(this.#held);
      },
      metrics: this.metrics,
      log: createLogger('node', 'silent'),
      backoff: new Backoff({ baseMs: 50, maxMs: 200 }),
    });
    this.client.start();
  }

  waitUpdate(version: string, timeoutMs: number): Promise<ResourceUpdate> {
    return waitFor(
      () => this.updates.find((update) => update.systemVersion === version),
      timeoutMs,
      () => `update ${version}; received ${this.updates.map((u) => u.systemVersion).join(', ')}`,
    );
  }

  async reconnects(): Promise<number> {
    const metric = await this.metrics.getSingleMetricAsString(
      'streammesh_node_control_plane_reconnects_total',
    );
    return Number(metric.trim().split('\n').at(-1)?.split(' ').at(-1));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

describe('gRPC listener head timeout', () => {
  const budget = { headTimeoutMs: 1_000 };
  let plane: Plane;

  before(async () => {
    plane = await Plane.start(budget);
  });

  after(async () => {
    await plane.close();
  });

  it('closes sockets that open no call within the head timeout, and counts them', async () => {
    const before = await plane.refused('head_timeout');
    const silent = await Promise.all([1, 2, 3].map(() => openRaw(plane.grpc, '127.0.0.1')));
    const partial = await Promise.all(
      [1, 2, 3].map(() => openRaw(plane.grpc, '127.0.0.1', PREFACE.slice(0, 16))),
    );
    // The whole preface and SETTINGS, but no call: still no head.
    const prefaceOnly = await openRaw(
      plane.grpc,
      '127.0.0.1',
      Buffer.concat([Buffer.from(PREFACE, 'latin1'), EMPTY_SETTINGS]),
    );
    const all = [...silent, ...partial, prefaceOnly];
    const closedAfter = await Promise.all(all.map((raw) => raw.closedAfterMs));
    for (const raw of all) raw.socket.destroy();
    for (const [index, ms] of closedAfter.entries()) {
      assert.ok(ms !== undefined, `socket ${index} still open after ${WATCH_MS} ms`);
      // The timer fires at 1 s; 2 cores shared with others need a margin above it.
      assert.ok(ms >= 900 && ms < 3_000, `socket ${index} closed after ${Math.round(ms)} ms`);
    }
    console.log(
      `head timeout 1000 ms: ${all.length} sockets closed after median ${Math.round(median(closedAfter.map((ms) => ms ?? Number.NaN)))} ms`,
    );
    assert.equal((await plane.refused('head_timeout')) - before, all.length);
  });

  it('does not cut a node that holds its resource stream past the head timeout', async () => {
    const node = new RecordingNode(formatHostPort(plane.grpc), 'steady-node');
    try {
      await waitFor(
        () => node.updates[0],
        5_000,
        () => 'the first update',
      );
      const timeoutsBefore = await plane.refused('head_timeout');
      // Well past the head timeout, with heartbeats flowing on the stream.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const version = await plane.changeConfig(budget, 'error');
      const changed = await node.waitUpdate(version, 3_000);
      assert.ok(changed.resources.some((resource) => resource.type === 'MESH_SETTINGS'));
      assert.equal(await node.reconnects(), 0, 'the node never had to reconnect');
      assert.equal(await plane.refused('head_timeout'), timeoutsBefore);
    } finally {
      await node.close();
    }
  });
});

describe('gRPC listener per-source cap', () => {
  const budget = { maxPerSource: 4 };
  let plane: Plane;
  let hop: Server;

  before(async () => {
    plane = await Plane.start(budget);
    hop = await sourceHop(plane.grpc, '127.0.0.2');
  });

  after(async () => {
    await new Promise<void>((resolve) => hop.close(() => resolve()));
    await plane.close();
  });

  it('refuses connections over the cap from 127.0.0.1 at once while a node from 127.0.0.2 is served', async () => {
    const before = await plane.refused('max_per_source');
    const held = await Promise.all([1, 2, 3, 4].map(() => openRaw(plane.grpc, '127.0.0.1')));
    const over = await Promise.all([1, 2, 3].map(() => openRaw(plane.grpc, '127.0.0.1')));
    const node = new RecordingNode(hopAddress(hop), 'other-source-node');
    try {
      const overClosed = await Promise.all(over.map((raw) => raw.closedAfterMs));
      for (const [index, ms] of overClosed.entries()) {
        assert.ok(ms !== undefined && ms < 500, `connection ${index} over the cap closed: ${ms}`);
      }
      console.log(
        `per-source cap: ${over.length} refused after median ${Math.round(median(overClosed.map((ms) => ms ?? Number.NaN)))} ms`,
      );
      assert.equal((await plane.refused('max_per_source')) - before, over.length);
      const first = await waitFor(
        () => node.updates[0],
        5_000,
        () => 'the first update',
      );
      assert.ok(first.resources.some((resource) => resource.type === 'MESH_SETTINGS'));
      // Those within the cap are still open (the head timeout is 10 s).
      for (const raw of held) assert.equal(raw.socket.destroyed, false);
    } finally {
      await node.close();
      for (const raw of [...held, ...over]) raw.socket.destroy();
    }
  });
});

describe('gRPC listener total cap', () => {
  const budget = { maxConnections: 6 };
  let plane: Plane;

  before(async () => {
    plane = await Plane.start(budget);
  });

  after(async () => {
    await plane.close();
  });

  it('refuses connections over maxConnections at once, from any source, and counts them', async () => {
    const before = await plane.refused('max_connections');
    const held = await Promise.all(
      ['127.0.0.1', '127.0.0.3', '127.0.0.1', '127.0.0.3', '127.0.0.1', '127.0.0.3'].map((from) =>
        openRaw(plane.grpc, from),
      ),
    );
    const over = await Promise.all(
      ['127.0.0.4', '127.0.0.5', '127.0.0.1'].map((from) => openRaw(plane.grpc, from)),
    );
    try {
      const overClosed = await Promise.all(over.map((raw) => raw.closedAfterMs));
      for (const [index, ms] of overClosed.entries()) {
        assert.ok(ms !== undefined && ms < 500, `connection ${index} over the cap closed: ${ms}`);
      }
      assert.equal((await plane.refused('max_connections')) - before, over.length);
      for (const raw of held) assert.equal(raw.socket.destroyed, false);
      // A slot freed is a slot for the next connection.
      held[0]?.socket.destroy();
      await waitFor(
        async () => {
          const next = await openRaw(plane.grpc, '127.0.0.6');
          const closed = await Promise.race([
            next.closedAfterMs,
            new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 300)),
          ]);
          next.socket.destroy();
          return closed === 'open' ? true : undefined;
        },
        3_000,
        () => 'a slot after one connection closed',
      );
    } finally {
      for (const raw of [...held, ...over]) raw.socket.destroy();
    }
  });
});
