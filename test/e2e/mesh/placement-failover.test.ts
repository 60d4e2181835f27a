/**
 * Placement with real processes, as across machines: a control plane and
 * three `streammesh proxy` processes. A proxy SIGKILLed is noticed by its
 * missed heartbeats; only its cameras move, to the live proxies, which are
 * told. The control plane SIGKILLed and started again rebuilds the same
 * placements from what the proxies hold, after its grace period (the
 * default 6 s).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, tryGetJson, waitReady } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { freePort } from '../../helpers/ports.js';
import { startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';
import type { NodePlacementView } from '../../../src/node-agent/index.js';

const CAMERAS = 12;
const PROXY_IDS = ['proxy-1', 'proxy-2', 'proxy-3'] as const;

function configText(adminPort: number, grpcPort: number): string {
  return [
    'logLevel: info',
    'controlPlane:',
    `  admin: 127.0.0.1:${adminPort}`,
    `  grpc: 127.0.0.1:${grpcPort}`,
    '  heartbeatIntervalMs: 200',
    '  staleAfterMissedHeartbeats: 3',
    'proxy:',
    '  admin: 127.0.0.1:0',
    '  rtsp:',
    '    listen: 127.0.0.1:0',
    '    demo: false',
    '    paths:',
    ...Array.from(
      { length: CAMERAS },
      (_, index) => `      cam${index}: { source: "rtsp://127.0.0.1:9/cam${index}" }`,
    ),
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
  ].join('\n');
}

describe('placement across processes', () => {
  const token = newAdminToken();
  const proxies = new Map<string, { running: Running; url: string }>();
  let controlPlane: Running | undefined;

  after(async () => {
    await Promise.all([
      ...[...proxies.values()].map(({ running }) => running.stop('SIGTERM', 5_000)),
      controlPlane?.stop('SIGTERM', 5_000),
    ]);
  });

  it('a SIGKILLed proxy loses only its cameras; a SIGKILLed control plane comes back with the same placements', async (t) => {
    const adminPort = await freePort();
    const grpcPort = await freePort();
    const file = writeTempConfig(configText(adminPort, grpcPort));
    const planeUrl = `http://127.0.0.1:${adminPort}`;
    const env = { STREAMMESH_ADMIN_TOKEN: token };
    const startPlane = async (): Promise<void> => {
      controlPlane = startStreammesh(['control-plane', '--config', file], env);
      await waitReady(planeUrl, () => controlPlane?.stderr() ?? '');
    };
    const view = async (): Promise<PlacementsView> =>
      (await getJson<PlacementsView>(`${planeUrl}/placements`)).body;
    /** The control plane's placements once it places and every live proxy holds them alike. */
    const agreed = async (accept: (view: PlacementsView) => boolean): Promise<PlacementsView> =>
      waitFor(
        async () => {
          const current = await tryGetJson<PlacementsView>(`${planeUrl}/placements`);
          if (current === undefined || current.body.restoring || !accept(current.body)) {
            return undefined;
          }
          const expected = JSON.stringify(current.body.placements);
          for (const { url } of proxies.values()) {
            const held = await getJson<{ placements: NodePlacementView[] }>(`${url}/placements`);
            const shown = held.body.placements.map(({ key, node, since, reason }) => ({
              key,
              node,
              since,
              reason,
            }));
            if (JSON.stringify(shown) !== expected) return undefined;
          }
          return current.body;
        },
        20_000,
        () => 'the control plane and every proxy to show the same placements',
      );

    await startPlane();
    await Promise.all(
      PROXY_IDS.map(async (id) => {
        const port = await freePort();
        const running = startStreammesh(['proxy', '--config', file], {
          ...env,
          STREAMMESH_PROXY_ID: id,
          STREAMMESH_PROXY_ADMIN: `127.0.0.1:${port}`,
        });
        const url = `http://127.0.0.1:${port}`;
        proxies.set(id, { running, url });
        await waitReady(url, () => running.stderr(), 20_000);
      }),
    );

    const placed = await agreed(({ placements }) => placements.length === CAMERAS);
    // The proxy with the most cameras goes (whoever was slow to start may have none).
    const counts = new Map<string, number>();
    for (const { node } of placed.placements) counts.set(node, (counts.get(node) ?? 0) + 1);
    const [victim] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [];
    assert.ok(victim !== undefined);
    const itsKeys = new Set(
      placed.placements.filter(({ node }) => node === victim).map(({ key }) => key),
    );

    const killedAt = Date.now();
    await proxies.get(victim)?.running.stop('SIGKILL', 2_000);
    proxies.delete(victim);
    const moved = await agreed(({ placements }) => placements.every(({ node }) => node !== victim));
    const moveMs = Date.now() - killedAt;
    t.diagnostic(`${itsKeys.size} cameras moved ${moveMs} ms after the SIGKILL`);
    for (const placement of moved.placements) {
      const before = placed.placements.find(({ key }) => key === placement.key);
      if (itsKeys.has(placement.key)) {
        assert.ok(proxies.has(placement.node), `${placement.key} is on a live proxy`);
        assert.equal(placement.reason, 'node_failed');
      } else {
        assert.deepEqual(placement, before, `${placement.key} must not move`);
      }
    }

    await controlPlane?.stop('SIGKILL', 2_000);
    assert.equal(await tryGetJson(`${planeUrl}/healthz`), undefined);
    await startPlane();
    assert.equal((await view()).restoring, true, 'it places nothing while the proxies report');
    const restored = await agreed(() => true);
    assert.deepEqual(restored.placements, moved.placements);
  });
});
