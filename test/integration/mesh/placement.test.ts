/**
 * Placement across real proxies: a control plane and several rtp-proxy
 * nodes in this process, talking over gRPC on loopback. 100 camera paths are
 * placed over 3 proxies within the load bound, and every proxy holds the
 * same placements as the control plane shows; a 4th proxy joining moves
 * nothing; a proxy that goes away moves only its own keys, once it is
 * stale, and the others are told; a restarted control plane rebuilds the
 * same placements from what the proxies hold and sends them nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { parseConfigText } from '../../../src/config/index.js';
import { httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';
import type { NodePlacementView } from '../../../src/node-agent/index.js';

/** A proxy's GET /placements. */
interface ProxyPlacements {
  readonly node: string;
  readonly placements: NodePlacementView[];
}

const CAMERAS = 100;
const LOAD_FACTOR = 1.25;
/** Long enough for three in-process proxies to start and connect on a busy 2-core machine. */
const GRACE_MS = 4_000;

function configText(grpcPort: number, adminPort: number, proxyId?: string): string {
  const paths = Array.from(
    { length: CAMERAS },
    (_, index) => `      cam${index}: { source: "rtsp://127.0.0.1:9/cam${index}" }`,
  );
  return [
    'logLevel: silent',
    'controlPlane:',
    `  admin: 127.0.0.1:${adminPort}`,
    `  grpc: 127.0.0.1:${grpcPort}`,
    '  heartbeatIntervalMs: 200',
    '  staleAfterMissedHeartbeats: 3',
    'proxy:',
    ...(proxyId === undefined ? [] : [`  id: ${proxyId}`]),
    '  admin: 127.0.0.1:0',
    '  rtsp:',
    '    listen: 127.0.0.1:0',
    '    demo: false',
    '    paths:',
    ...paths,
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
  ].join('\n');
}

/** Placements as key -> node. */
function owners(placements: readonly { key: string; node: string }[]): Map<string, string> {
  return new Map(placements.map(({ key, node }) => [key, node]));
}

/** Updates the proxy acknowledged (streammesh_node_config_applies_total{result="ack"}). */
async function updatesApplied(proxy: RunningProxy): Promise<number> {
  const { text } = await getText(`${httpUrl(proxy.admin)}/metrics`);
  const match = /^streammesh_node_config_applies_total\{[^}]*result="ack"[^}]*\} (\d+)$/m.exec(
    text,
  );
  return Number(match?.[1] ?? 0);
}

/** The proxy's count of PLACEMENT resources received (updates and removals). */
async function placementsReceived(proxy: RunningProxy): Promise<number> {
  const { text } = await getText(`${httpUrl(proxy.admin)}/metrics`);
  let total = 0;
  for (const match of text.matchAll(
    /^streammesh_node_config_resources_received_total\{[^}]*type="PLACEMENT"[^}]*\} (\d+)$/gm,
  )) {
    total += Number(match[1]);
  }
  return total;
}

describe('placement over several proxies', () => {
  const token = newAdminToken();
  const proxies = new Map<string, RunningProxy>();
  let grpcPort: number;
  let adminPort: number;
  let plane: RunningControlPlane | undefined;

  const startPlane = async (): Promise<void> => {
    plane = await startControlPlane({
      config: parseConfigText(configText(grpcPort, adminPort), 'control plane'),
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(token),
      placementGraceMs: GRACE_MS,
    });
  };
  const addProxy = async (id: string): Promise<RunningProxy> => {
    const proxy = await startProxy(
      parseConfigText(configText(grpcPort, adminPort, id), id),
      createLogger('proxy', 'silent'),
    );
    proxies.set(id, proxy);
    await proxy.serving();
    return proxy;
  };
  const planeView = async (): Promise<PlacementsView> =>
    (await getJson<PlacementsView>(`http://127.0.0.1:${adminPort}/placements`)).body;
  const proxyView = async (proxy: RunningProxy): Promise<ProxyPlacements> =>
    (await getJson<ProxyPlacements>(`${httpUrl(proxy.admin)}/placements`)).body;
  /** Waits until every proxy in `proxies` holds exactly what the control plane shows. */
  const waitAgreed = async (what: string): Promise<PlacementsView> =>
    waitFor(
      async () => {
        const view = await planeView();
        if (view.restoring || view.placements.length !== CAMERAS) return undefined;
        for (const proxy of proxies.values()) {
          const held = await proxyView(proxy);
          const heldAsShown = held.placements.map(({ key, node, since, reason }) => ({
            key,
            node,
            since,
            reason,
          }));
          if (JSON.stringify(heldAsShown) !== JSON.stringify(view.placements)) return undefined;
        }
        return view;
      },
      10_000,
      () => what,
    );

  before(async () => {
    grpcPort = await freePort();
    adminPort = await freePort();
    await startPlane();
    await Promise.all(['proxy-a', 'proxy-b', 'proxy-c'].map((id) => addProxy(id)));
  });

  after(async () => {
    for (const proxy of proxies.values()) await proxy.close();
    await plane?.close();
  });

  it('places every camera on one of 3 proxies, within the load bound, and every proxy agrees', async () => {
    const view = await waitAgreed('30 placements shown alike by the control plane and 3 proxies');
    assert.deepEqual(
      view.placements.map(({ key }) => key),
      Array.from({ length: CAMERAS }, (_, index) => `camera/cam${index}`).sort(),
    );
    const perNode = new Map<string, number>();
    for (const { node, reason } of view.placements) {
      assert.equal(reason, 'placed');
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
    const bound = Math.ceil((LOAD_FACTOR * CAMERAS) / 3);
    assert.deepEqual([...perNode.keys()].sort(), ['proxy-a', 'proxy-b', 'proxy-c']);
    for (const [node, count] of perNode) {
      assert.ok(count <= bound, `${node} holds ${count} keys, above the bound ${bound}`);
    }
    // Each proxy says which keys are its own, as the control plane does.
    for (const [id, proxy] of proxies) {
      const held = await proxyView(proxy);
      assert.equal(held.node, id);
      assert.deepEqual(
        held.placements.filter(({ owned }) => owned).map(({ key }) => key),
        view.placements.filter(({ node }) => node === id).map(({ key }) => key),
      );
    }
  });

  it('a 4th proxy joining moves no placement', async () => {
    const before = await waitAgreed('placements before the join');
    const proxy = await addProxy('proxy-d');
    // Until the control plane counts it, and some reconcile passes after.
    await waitFor(
      async () => ((await planeView()).nodes.some(({ id }) => id === 'proxy-d') ? true : undefined),
      5_000,
      () => 'proxy-d among the placement nodes',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const afterJoin = await waitAgreed('placements after the join, on all 4 proxies');
    assert.deepEqual(afterJoin.placements, before.placements);
    assert.equal((await proxyView(proxy)).placements.length, CAMERAS);
  });

  it('a proxy that goes away: once stale, only its keys move, to live proxies, and all are told', async () => {
    const before = await waitAgreed('placements before the failure');
    const victim = 'proxy-b';
    const proxy = proxies.get(victim);
    assert.ok(proxy);
    const itsKeys = before.placements.filter(({ node }) => node === victim).map(({ key }) => key);
    assert.ok(itsKeys.length > 0);
    const survivors = [...proxies].filter(([id]) => id !== victim).map(([, live]) => live);
    const receivedBefore = await Promise.all(survivors.map((live) => placementsReceived(live)));
    const appliedBefore = await Promise.all(survivors.map((live) => updatesApplied(live)));
    await proxy.close();
    proxies.delete(victim);
    const moved = await waitFor(
      async () => {
        const view = await waitAgreed('placements after the failure');
        return view.placements.some(({ node }) => node === victim) ? undefined : view;
      },
      10_000,
      () => `the keys of ${victim} to move`,
    );
    const previous = owners(before.placements);
    for (const placement of moved.placements) {
      if (itsKeys.includes(placement.key)) {
        assert.notEqual(placement.node, victim);
        assert.ok(proxies.has(placement.node), `${placement.key} moved to a live proxy`);
        assert.equal(placement.reason, 'node_failed');
      } else {
        assert.deepEqual(
          placement,
          before.placements.find(({ key }) => key === placement.key),
          `${placement.key} (on ${previous.get(placement.key)}) must not move`,
        );
      }
    }
    // Each survivor was sent the moved placements only, as one update.
    assert.deepEqual(
      await Promise.all(survivors.map((live) => placementsReceived(live))),
      receivedBefore.map((count) => count + itsKeys.length),
    );
    assert.deepEqual(
      await Promise.all(survivors.map((live) => updatesApplied(live))),
      appliedBefore.map((count) => count + 1),
    );
    assert.equal(
      moved.nodes.find(({ id }) => id === victim)?.state,
      'stale',
      'the control plane shows the proxy stale',
    );
  });

  it('a restarted control plane shows the same placements and sends the proxies none', async () => {
    const before = await waitAgreed('placements before the restart');
    const received = await Promise.all(
      [...proxies.values()].map((proxy) => placementsReceived(proxy)),
    );
    await plane?.close();
    await startPlane();
    // While the proxies report back, it places nothing new.
    assert.equal((await planeView()).restoring, true);
    const afterRestart = await waitFor(
      async () => {
        const view = await planeView();
        return view.restoring ? undefined : view;
      },
      GRACE_MS + 5_000,
      () => 'the grace period to end',
    );
    assert.deepEqual(afterRestart.placements, before.placements);
    // A few reconcile passes later, still the same, and no proxy was sent a placement.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.deepEqual(
      (await waitAgreed('placements after the restart')).placements,
      before.placements,
    );
    assert.deepEqual(
      await Promise.all([...proxies.values()].map((proxy) => placementsReceived(proxy))),
      received,
    );
  });
});
