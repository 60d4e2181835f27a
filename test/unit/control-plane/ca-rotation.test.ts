/**
 * CaRotation on the control plane: rotate() pushes a bundle with both roots
 * (a 'change', a new TRUST_BUNDLE version) and renews the control plane's
 * own certificate (and moves the root edge tokens are signed under) only
 * once every connected node ACKed that bundle;
 * retire() is refused while a node's live certificate is from the old root
 * (or unknown), then cuts the bundle to the issuer and pushes it; GET /ca's
 * view says all of it; rotations and retirements are counted. A real
 * MeshCa and Registry; the control plane's certificate is a counter.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import { CaRotation, type IssuedRoot } from '../../../src/control-plane/ca-rotation.js';
import { Registry } from '../../../src/control-plane/registry/index.js';

const TRUST_DOMAIN = 'streammesh.test';

async function counter(metrics: MetricsRegistry, name: string): Promise<number> {
  return (await metrics.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('condition not met in 2 s');
}

describe('CA rotation on the control plane', () => {
  let dir: string;
  let ca: MeshCa;
  let rotation: CaRotation;
  const registry = new Registry({
    clock: { now: () => Date.now() },
    heartbeatIntervalMs: 1_000,
    staleAfterMissedHeartbeats: 3,
    maxNodes: 10,
    forgetAfterMs: 60_000,
  });
  const metrics = new MetricsRegistry();
  const issued = new Map<string, IssuedRoot>();
  let renewals = 0;
  let changes = 0;
  let refreshes = 0;
  /** The root (PEM) the control plane's own certificate comes from. */
  let ownRoot = '';
  /** What the control plane's renewal waits for before its certificate changes. */
  let renewalGate: Promise<void> = Promise.resolve();
  let nonce = 0;

  const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

  /** The node ACKs the bundle in force, as the push server records it. */
  function ack(id: string): void {
    const record = registry.get(id);
    assert.ok(record !== undefined);
    nonce += 1;
    record.resources.sent(String(nonce), 'cfg', { changed: [rotation.resource()], removed: [] });
    record.resources.acked(String(nonce));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ca-rotation-unit-'));
    ca = await MeshCa.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TRUST_DOMAIN });
    ownRoot = ca.issuerCertificate();
    rotation = new CaRotation({
      ca,
      registry,
      own: {
        // The control plane's certificate: from the CA's issuer at each renewal.
        renew: async () => {
          renewals += 1;
          // A renewal takes a while (a key, a signature): a test may hold it open.
          await renewalGate;
          ownRoot = ca.issuerCertificate();
        },
        current: () => ({
          spiffeId: `spiffe://${TRUST_DOMAIN}/ns/streammesh/sa/control-plane`,
          nodeId: undefined,
          privateKeyPem: '',
          certificatePem: '',
          chainPem: ownRoot,
          trustBundlePem: ca.trustBundle(),
          notAfterMs: Date.now() + 60_000,
        }),
        refreshTrustBundle: () => {
          refreshes += 1;
        },
      },
      issuedTo: (id) => issued.get(id),
      metrics,
      log: pino({ level: 'silent' }),
    });
    rotation.on('change', () => (changes += 1));
    for (const id of ['proxy-a', 'proxy-b']) {
      registry.register(
        {
          identity: { id, node: id, role: 'ROLE_PROXY' },
          capabilities: [],
          listenAddresses: {},
          currentVersion: '',
        },
        `spiffe://${TRUST_DOMAIN}/ns/default/sa/${id}`,
      );
      registry.streamOpened(id);
      issued.set(id, {
        rootFingerprint: fingerprint(ca.issuerCertificate()),
        notAfterMs: Date.now() + 60_000,
        serialNumber: '4A',
      });
      ack(id);
    }
  });

  after(() => {
    rotation.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('nothing to retire before a rotation', () => {
    assert.deepEqual(rotation.retire(), { retired: 0 });
    assert.equal(rotation.view().everyNodeOnIssuer, true);
  });

  it("pushes both roots at rotate(); the control plane's certificate waits for every ACK", async () => {
    const firstPem = ca.issuerCertificate();
    const first = fingerprint(firstPem);
    const version = rotation.resource().version;
    assert.equal(await rotation.rotate(), true);
    // The control plane's listeners trust the new root at once.
    assert.equal(refreshes, 1);
    // Edge tokens stay on the old root until every node trusts the new one.
    assert.equal(rotation.settledIssuer(), firstPem);
    assert.equal(changes, 1);
    assert.notEqual(rotation.resource().version, version);
    const view = rotation.view();
    assert.equal(view.roots.length, 2);
    assert.deepEqual(
      view.roots.map((root) => [root.fingerprint256 === first, root.issuer]),
      [
        [true, false],
        [false, true],
      ],
    );
    assert.equal(view.rotationPending, true);
    assert.equal(view.everyNodeOnIssuer, false);
    ack('proxy-a');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(renewals, 0, 'proxy-b has not ACKed the new bundle');
    assert.equal(rotation.settledIssuer(), firstPem);
    assert.deepEqual(
      rotation.view().nodes.map((node) => [node.id, node.bundleAcked]),
      [
        ['proxy-a', true],
        ['proxy-b', false],
      ],
    );
    let releaseRenewal = (): void => undefined;
    renewalGate = new Promise((resolve) => (releaseRenewal = resolve));
    ack('proxy-b');
    await until(() => renewals === 1);
    assert.equal(rotation.settledIssuer(), ca.issuerCertificate());
    assert.notEqual(rotation.settledIssuer(), firstPem);
    // Every node ACKed, but the control plane's certificate is still the old root's.
    const renewing = rotation.view();
    assert.ok(renewing.nodes.every((node) => node.bundleAcked));
    assert.equal(renewing.controlPlaneRoot, first);
    assert.equal(renewing.rotationPending, true, 'settled before the control plane renewed');
    releaseRenewal();
    await until(() => !rotation.view().rotationPending);
    assert.equal(rotation.view().controlPlaneRoot, fingerprint(ca.issuerCertificate()));
    assert.equal(await counter(metrics, 'streammesh_control_plane_ca_rotations_total'), 1);
  });

  it('refuses to retire while a node holds a live old-root certificate, then retires', async () => {
    const result = rotation.retire();
    assert.ok('blockers' in result);
    assert.deepEqual(
      result.blockers.map((blocker) => [blocker.node, blocker.reason]),
      [
        ['proxy-a', 'old_root'],
        ['proxy-b', 'old_root'],
      ],
    );
    const newRoot = {
      rootFingerprint: fingerprint(ca.issuerCertificate()),
      notAfterMs: Date.now() + 60_000,
      serialNumber: '4B',
    };
    issued.set('proxy-a', newRoot);
    // proxy-b's old certificate expired: it no longer needs the old root.
    issued.set('proxy-b', { ...newRoot, rootFingerprint: 'old', notAfterMs: Date.now() - 1 });
    assert.equal(
      rotation.view().nodes.find((node) => node.id === 'proxy-a')?.certificate?.fromIssuer,
      true,
    );
    const before = changes;
    assert.deepEqual(rotation.retire(), { retired: 1 });
    // ... and stop trusting the retired one at once, not at their next renewal.
    assert.equal(refreshes, 2);
    assert.equal(changes, before + 1);
    assert.equal(rotation.view().roots.length, 1);
    assert.equal(ca.trustBundle(), ca.issuerCertificate());
    assert.equal(await counter(metrics, 'streammesh_control_plane_ca_retirements_total'), 1);
  });

  it('a connected node with no certificate on record blocks a retirement', async () => {
    await rotation.rotate();
    issued.delete('proxy-b');
    const result = rotation.retire();
    assert.ok('blockers' in result);
    assert.ok(
      result.blockers.some(
        (blocker) => blocker.node === 'proxy-b' && blocker.reason === 'unknown_certificate',
      ),
    );
    // No node has ACKed this rotation: the control plane's own certificate is
    // still from the old root, which a retirement would leave nodes unable to verify.
    assert.ok(result.blockers.some((blocker) => blocker.reason === 'control_plane'));
  });
});
