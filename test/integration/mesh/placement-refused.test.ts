/**
 * A (buggy) control plane pushes a bad PLACEMENT resource to a real proxy:
 * the proxy NACKs it by name and counts it, keeps the placements and config
 * it held, and keeps taking config changes, which travel in updates of
 * their own. The placements here come from a feed the test controls,
 * injected into the real ConfigPushServer in place of the PlacementService.
 * The same for MEDIA_KEY (a hop): a hop of two other nodes, and a body
 * that is not JSON around key bytes, are NACKed by name without quoting
 * the key, and the proxy holds no hop.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import {
  hopResourceName,
  parseConfigText,
  placementResource,
  type PushedResource,
} from '../../../src/config/index.js';
import { generateHopKey } from '../../../src/protocol/srtp/index.js';
import { ConfigPushServer, ConfigStore } from '../../../src/control-plane/config-push/index.js';
import { Registry } from '../../../src/control-plane/registry/index.js';
import { httpUrl } from '../../../src/shared/address.js';
import { systemClock } from '../../../src/shared/clock.js';
import { createLogger } from '../../../src/shared/log.js';
import { createMetricsRegistry } from '../../../src/shared/metrics.js';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { getJson, getText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';

const PROXY_ID = 'proxy-refuses';

/** Hops the test pushes, in place of the HopPlanner. */
class InjectedHops extends EventEmitter<{ change: [] }> {
  current: PushedResource[] = [];
  resources(): readonly PushedResource[] {
    return this.current;
  }
  reported(): void {}
  greeted(): void {}
  requested(): void {}
  acked(): void {}
  set(resources: PushedResource[]): void {
    this.current = resources;
    this.emit('change');
  }
}

class InjectedPlacements extends EventEmitter<{ change: [] }> {
  current: PushedResource[] = [];
  resources(): readonly PushedResource[] {
    return this.current;
  }
  reported(): void {}
  set(resources: PushedResource[]): void {
    this.current = resources;
    this.emit('change');
  }
}

function configText(grpcPort: number, logLevel: string): string {
  return [
    `logLevel: ${logLevel}`,
    'controlPlane:',
    '  admin: 127.0.0.1:0',
    `  grpc: 127.0.0.1:${grpcPort}`,
    '  heartbeatIntervalMs: 200',
    // The push server here is a plaintext one of the test's own making.
    '  mtls: false',
    'proxy:',
    `  id: ${PROXY_ID}`,
    '  admin: 127.0.0.1:0',
    '  rtsp: { enabled: false }',
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
  ].join('\n');
}

interface ProxyPlacements {
  placements: { key: string; node: string; owned: boolean }[];
}

describe('a bad PLACEMENT resource', () => {
  const placements = new InjectedPlacements();
  const hops = new InjectedHops();
  const metrics = createMetricsRegistry('control-plane');
  let grpcPort: number;
  let store: ConfigStore;
  let registry: Registry;
  let server: ConfigPushServer;
  let proxy: RunningProxy;

  const good = placementResource('camera/cam1', {
    node: PROXY_ID,
    since: '2026-12-04T10:00:00.000Z',
    reason: 'placed',
  });
  const proxyPlacements = async (): Promise<ProxyPlacements> =>
    (await getJson<ProxyPlacements>(`${httpUrl(proxy.admin)}/placements`)).body;
  const stateOf = (name: string) =>
    registry
      .get(PROXY_ID)
      ?.resources.view()
      .find((state) => state.type === 'PLACEMENT' && state.name === name);
  const counter = async (pattern: RegExp): Promise<number> => {
    const match = pattern.exec(await metrics.metrics());
    return match === null ? 0 : Number(match[1]);
  };

  before(async () => {
    grpcPort = await freePort();
    store = new ConfigStore(parseConfigText(configText(grpcPort, 'silent'), 'test'), 'test');
    registry = new Registry({
      clock: systemClock,
      heartbeatIntervalMs: 200,
      staleAfterMissedHeartbeats: 3,
      maxNodes: 10,
      forgetAfterMs: 60_000,
    });
    server = new ConfigPushServer({
      listen: { host: '127.0.0.1', port: grpcPort },
      store,
      registry,
      placements,
      hops,
      heartbeatIntervalMs: 200,
      metrics,
      log: createLogger('control-plane', 'silent'),
    });
    await server.listen();
    proxy = await startProxy(
      parseConfigText(configText(grpcPort, 'silent'), 'proxy'),
      createLogger('proxy', 'silent'),
    );
    await proxy.serving();
  });

  after(async () => {
    await proxy.close();
    await server.close();
  });

  it('a good placement is applied and acknowledged', async () => {
    placements.set([good]);
    await waitFor(
      () => (stateOf('camera/cam1')?.acked === good.version ? true : undefined),
      5_000,
      () => 'the ACK of camera/cam1',
    );
    assert.deepEqual((await proxyPlacements()).placements, [
      {
        key: 'camera/cam1',
        node: PROXY_ID,
        since: '2026-12-04T10:00:00.000Z',
        reason: 'placed',
        owned: true,
      },
    ]);
  });

  it('a malformed one is NACKed by name and counted; the proxy keeps what it held', async () => {
    const configBefore = (await getJson(`${httpUrl(proxy.admin)}/config_dump`)).body;
    const bad: PushedResource = {
      type: 'PLACEMENT',
      name: 'camera/cam2',
      version: 'bad-1',
      order: 0,
      body: { node: PROXY_ID, since: 'yesterday', reason: 'whim' },
    };
    placements.set([good, bad]);
    const refused = await waitFor(
      () => stateOf('camera/cam2')?.nacked ?? undefined,
      5_000,
      () => 'the NACK of camera/cam2',
    );
    assert.equal(refused.version, 'bad-1');
    assert.match(refused.reason, /since/);
    assert.match(refused.reason, /reason/);
    assert.equal(stateOf('camera/cam2')?.acked, null);
    assert.equal(stateOf('camera/cam1')?.nacked, null, 'the good placement carries no refusal');
    assert.equal(
      await counter(
        /^streammesh_control_plane_config_refused_resources_total\{[^}]*type="PLACEMENT"[^}]*\} (\d+)$/m,
      ),
      1,
    );
    const nodeMetrics = (await getText(`${httpUrl(proxy.admin)}/metrics`)).text;
    assert.match(
      nodeMetrics,
      /streammesh_node_config_applies_total\{[^}]*result="nack"[^}]*\} 1$/m,
    );
    assert.deepEqual(
      (await proxyPlacements()).placements.map(({ key }) => key),
      ['camera/cam1'],
    );
    assert.deepEqual((await getJson(`${httpUrl(proxy.admin)}/config_dump`)).body, configBefore);
    assert.equal((await getJson(`${httpUrl(proxy.admin)}/readyz`)).status, 200);
  });

  it('a config change still reaches the proxy while the bad placement is refused', async () => {
    store.set(parseConfigText(configText(grpcPort, 'error'), 'test'), 'test');
    const version = store.current.version;
    await waitFor(
      async () => {
        const dump = (
          await getJson<{ version: string | null }>(`${httpUrl(proxy.admin)}/config_dump`)
        ).body;
        return dump.version === version ? true : undefined;
      },
      5_000,
      () => `the proxy to apply ${version}`,
    );
    assert.equal(registry.get(PROXY_ID)?.ackedVersion, version);
    // The bad placement was sent again, alone, and refused again.
    await waitFor(
      async () =>
        (await counter(
          /^streammesh_control_plane_config_refused_resources_total\{[^}]*type="PLACEMENT"[^}]*\} (\d+)$/m,
        )) >= 2
          ? true
          : undefined,
      5_000,
      () => 'the second NACK of camera/cam2',
    );
    assert.deepEqual(
      (await proxyPlacements()).placements.map(({ key }) => key),
      ['camera/cam1'],
    );
  });
  it('a bad MEDIA_KEY is NACKed by name without quoting its key; the proxy holds no hop', async () => {
    const key = generateHopKey({
      hopId: hopResourceName('camera/cam1', 'proxy-x', 'proxy-y'),
      epoch: 1,
      notAfter: Date.now() + 60_000,
    });
    const foreign: PushedResource = {
      type: 'MEDIA_KEY',
      name: key.hopId,
      version: 'foreign-1',
      order: 0,
      body: {
        hopId: key.hopId,
        session: 'camera/cam1',
        sender: 'proxy-x',
        receiver: 'proxy-y',
        senderAddress: '127.0.0.1:7000',
        receiverAddress: '127.0.0.1:7002',
        keys: [key],
        sendEpoch: 1,
      },
    };
    hops.set([foreign]);
    const hopState = (name: string) =>
      registry
        .get(PROXY_ID)
        ?.resources.view()
        .find((state) => state.type === 'MEDIA_KEY' && state.name === name);
    const refused = await waitFor(
      () => hopState(key.hopId)?.nacked ?? undefined,
      5_000,
      () => 'the NACK of the foreign hop',
    );
    assert.match(refused.reason, /not of this node/);
    assert.ok(!refused.reason.includes(key.key), 'the reason never quotes the key');
    const held = await getJson<{ held: unknown[] }>(`${httpUrl(proxy.admin)}/hops`);
    assert.deepEqual(held.body.held, []);
    assert.equal((await getJson(`${httpUrl(proxy.admin)}/readyz`)).status, 200);
  });
});
