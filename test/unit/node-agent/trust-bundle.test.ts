/**
 * A pushed TRUST_BUNDLE on a node: a rotation's bundle (old and new roots)
 * reaches the workload identity with the same key and certificate and one
 * 'renewed'; a bundle that would not trust the node's own certificate (its
 * root retired too early), that is not certificates, that holds too many,
 * or that reaches a node without an identity is refused by name and
 * counted, and the bundle held stays; a renewal answered with a bundle
 * older than the pushed one keeps the pushed one. Real certificates (a MeshCa in a
 * temporary directory, a real WorkloadIdentity); only the gRPC call is a
 * function.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import { trustBundleResource, TRUST_BUNDLE } from '../../../src/config/index.js';
import {
  WorkloadIdentity,
  type CertificateIssuer,
} from '../../../src/node-agent/identity/index.js';
import { MeshState } from '../../../src/node-agent/mesh-state.js';
import type { ResourceUpdate } from '../../../src/protocol/mesh/index.js';
import type { WorkloadCertificates } from '../../../src/shared/identity/index.js';

const TRUST_DOMAIN = 'streammesh.test';
const SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/default/sa/frontend`;

function update(bodyJson: string, version = 'v1', name = 'mesh'): ResourceUpdate {
  return {
    nonce: '1',
    systemVersion: 'cfg',
    resources: [{ type: TRUST_BUNDLE, name, version, order: 0, bodyJson }],
    removed: [],
    drainDeadlineMs: 0,
  };
}

function pushed(pem: string, revoked: readonly string[] = []): ResourceUpdate {
  const resource = trustBundleResource(pem, undefined, { serials: revoked, identities: [] });
  return update(JSON.stringify(resource.body), resource.version);
}

async function refusals(metrics: Registry, reason: string): Promise<number> {
  const metric = await metrics
    .getSingleMetric('streammesh_node_trust_bundles_refused_total')
    ?.get();
  return metric?.values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

/**
 * A workload identity certified by `ca` for `lifetimeMs`, whose control
 * plane answers every request with `bundle()` as the trust bundle.
 */
function identityOf(ca: MeshCa, lifetimeMs: number, bundle: () => string): WorkloadIdentity {
  const issuer: CertificateIssuer = {
    issue: async (request) => {
      const issued = await ca.issue(request.csrPem, {
        spiffeId: SPIFFE_ID,
        nodeId: request.nodeId,
        lifetimeMs,
      });
      return {
        certificatePem: issued.certificatePem,
        chainPem: issued.chainPem,
        trustBundlePem: bundle(),
        notAfterMs: issued.notAfter.getTime(),
        spiffeId: SPIFFE_ID,
      };
    },
  };
  return new WorkloadIdentity({
    trustDomain: TRUST_DOMAIN,
    namespace: 'default',
    serviceAccount: 'frontend',
    nodeId: 'proxy-a',
    issuer,
    trustBundle: { describe: () => 'bundle.pem', read: bundle },
    bootstrapToken: { describe: () => 'token', token: () => 'token' },
    log: pino({ level: 'silent' }),
  });
}

describe('TRUST_BUNDLE on a node', () => {
  let dir: string;
  let ca: MeshCa;
  let identity: WorkloadIdentity;
  let state: MeshState;
  let metrics: Registry;
  const renewed: WorkloadCertificates[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trust-bundle-unit-'));
    ca = await MeshCa.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TRUST_DOMAIN });
    identity = identityOf(ca, 3_600_000, () => ca.trustBundle());
    identity.on('renewed', (certificates) => renewed.push(certificates));
    await identity.obtain();
    metrics = new Registry();
    state = new MeshState('proxy-a', {}, { identity, metrics });
  });

  after(() => {
    identity.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("takes a rotation's bundle: same key and certificate, new roots, one 'renewed'", async () => {
    const before = identity.current();
    assert.ok(before !== undefined);
    await ca.rotate();
    const bundle = ca.trustBundle();
    assert.notEqual(bundle, before.trustBundlePem);
    const staged = state.stage(pushed(bundle));
    assert.deepEqual(staged.issues, []);
    assert.equal(identity.current()?.trustBundlePem, before.trustBundlePem, 'not before commit');
    state.commit(staged);
    const now = identity.current();
    assert.equal(now?.trustBundlePem, bundle);
    assert.equal(now.privateKeyPem, before.privateKeyPem);
    assert.equal(now.certificatePem, before.certificatePem);
    assert.equal(renewed.length, 1);
    assert.equal(renewed[0]?.trustBundlePem, bundle);
    assert.deepEqual(state.refs(pushed(bundle)), [
      { type: TRUST_BUNDLE, name: 'mesh', version: trustBundleResource(bundle).version },
    ]);
    // The same bundle again changes nothing and tells nobody.
    state.commit(state.stage(pushed(bundle)));
    assert.equal(renewed.length, 1);
  });

  it("refuses a bundle without the root of the node's own certificate, counted", async () => {
    const held = identity.current()?.trustBundlePem;
    // The node's certificate is from the first root; the new root alone would not trust it.
    const staged = state.stage(pushed(ca.issuerCertificate()));
    assert.equal(staged.issues.length, 1);
    const [issue] = staged.issues;
    assert.ok(issue !== undefined);
    assert.equal(issue.type, TRUST_BUNDLE);
    assert.equal(issue.name, 'mesh');
    assert.match(issue.reason, /root of the node's own certificate/);
    assert.equal(await refusals(metrics, 'untrusted_self'), 1);
    assert.equal(identity.current()?.trustBundlePem, held);
    assert.throws(() => identity.updateTrustBundle(ca.issuerCertificate()), {
      code: 'ERR_TRUST_BUNDLE_REFUSED',
    });
  });

  it("hands the revoked serials to the identity with the bundle: one 'renewed', the same certificate", () => {
    const before = identity.current();
    assert.ok(before !== undefined);
    const told = renewed.length;
    const bundle = before.trustBundlePem;
    state.commit(state.stage(pushed(bundle, ['4A1B', 'C0FFEE'])));
    assert.deepEqual(identity.current()?.revokedSerials, ['4A1B', 'C0FFEE']);
    assert.equal(identity.current()?.certificatePem, before.certificatePem);
    assert.equal(renewed.length, told + 1);
    assert.deepEqual(renewed.at(-1)?.revokedSerials, ['4A1B', 'C0FFEE']);
    // The same list again tells nobody; a bundle without a list clears it.
    state.commit(state.stage(pushed(bundle, ['4A1B', 'C0FFEE'])));
    assert.equal(renewed.length, told + 1);
    state.commit(state.stage(pushed(bundle)));
    assert.deepEqual(identity.current()?.revokedSerials, []);
    assert.equal(renewed.length, told + 2);
  });

  it('refuses a revoked list that is not serials, or too long, counted', async () => {
    const bundle = identity.current()?.trustBundlePem ?? '';
    const counted = await refusals(metrics, 'invalid_body');
    const bad = [
      update(JSON.stringify({ pem: bundle, revoked: ['4a1b'] })),
      update(JSON.stringify({ pem: bundle, revoked: ['not hex'] })),
      update(JSON.stringify({ pem: bundle, revoked: ['A'.repeat(41)] })),
      update(JSON.stringify({ pem: bundle, revoked: '4A' })),
      update(JSON.stringify({ pem: bundle, revoked: Array.from({ length: 2049 }, () => '4A') })),
    ];
    for (const [index, refused] of bad.entries()) {
      assert.equal(state.stage(refused).issues.length, 1, `update ${index} refused`);
    }
    assert.equal(await refusals(metrics, 'invalid_body'), counted + bad.length);
  });

  it('refuses bodies that are not certificates, or too many, counted', async () => {
    const counted = await refusals(metrics, 'invalid_body');
    const root = ca.issuerCertificate();
    const bad = [
      update('not json'),
      update(JSON.stringify({ pem: 'no certificate here' })),
      update(JSON.stringify({ pem: root, extra: 1 })),
      update(
        JSON.stringify({
          pem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        }),
      ),
      update(JSON.stringify({ pem: root.repeat(17) })),
      update(JSON.stringify({ pem: 'x'.repeat(70_000) + root })),
      update(JSON.stringify({ pem: ca.trustBundle() }), 'v2', 'other'),
    ];
    for (const [index, refused] of bad.entries()) {
      const staged = state.stage(refused);
      assert.equal(staged.issues.length, 1, `update ${index} refused`);
    }
    assert.equal(await refusals(metrics, 'invalid_body'), counted + bad.length);
  });

  it('is refused by a node without a workload identity (no mTLS)', async () => {
    const plain = new Registry();
    const without = new MeshState('proxy-b', {}, { metrics: plain });
    assert.equal(without.stage(pushed(ca.trustBundle())).issues.length, 1);
    assert.equal(await refusals(plain, 'no_identity'), 1);
  });
});

describe('a renewal after a pushed bundle', () => {
  let dir: string;
  let ca: MeshCa;
  let identity: WorkloadIdentity | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trust-bundle-renewal-'));
    ca = await MeshCa.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TRUST_DOMAIN });
  });

  after(() => {
    identity?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the pushed bundle over the older one a renewal brings', async () => {
    const before = ca.trustBundle();
    // The control plane answered from before the rotation: the bundle without the new root.
    identity = identityOf(ca, 3_000, () => before);
    const first = await identity.obtain();
    await ca.rotate();
    identity.updateTrustBundle(ca.trustBundle());
    // The renewal timer is unref'd: this one keeps the test alive, and bounds it.
    let deadline: NodeJS.Timeout | undefined;
    identity.updateTrustBundle(ca.trustBundle(), ['4A1B']);
    const renewed = await new Promise<WorkloadCertificates>((resolve, reject) => {
      deadline = setTimeout(() => reject(new Error('no renewal in 10 s')), 10_000);
      identity?.on('renewed', (certificates) => {
        if (certificates.certificatePem !== first.certificatePem) resolve(certificates);
      });
    }).finally(() => clearTimeout(deadline));
    // A certificate of the new root, and the bundle that trusts it.
    assert.equal(renewed.chainPem, ca.issuerCertificate());
    assert.equal(renewed.trustBundlePem, ca.trustBundle());
    assert.notEqual(renewed.trustBundlePem, before);
    // The pushed revocation list outlives the renewal too.
    assert.deepEqual(renewed.revokedSerials, ['4A1B']);
  });
});
