/**
 * The grpc-js CertificateProvider fed from a workload identity: a listener
 * added once a certificate is held hears of it at once; every renewal
 * reaches every listener with the new leaf (its chain after it), the new key
 * and the trust bundle of that issue; the provider follows the identity only
 * while a listener is attached, so a closed channel leaves nothing behind.
 * The identity here is a stand-in (an EventEmitter with current()): what is
 * tested is the provider's side of the contract.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { chainOf, WorkloadCertificateProvider } from '../../../src/node-agent/identity/index.js';
import type {
  WorkloadCertificates,
  WorkloadIdentitySource,
} from '../../../src/shared/identity/index.js';

class StandInIdentity
  extends EventEmitter<{ renewed: [WorkloadCertificates] }>
  implements WorkloadIdentitySource
{
  held: WorkloadCertificates | undefined;

  current(): WorkloadCertificates | undefined {
    return this.held;
  }

  renew(certificates: WorkloadCertificates): void {
    this.held = certificates;
    this.emit('renewed', certificates);
  }
}

function certificates(n: number): WorkloadCertificates {
  return {
    spiffeId: 'spiffe://mesh.test/ns/default/sa/frontend',
    nodeId: 'proxy-a',
    privateKeyPem: `KEY ${n}\n`,
    certificatePem: `LEAF ${n}\n`,
    chainPem: `ROOT ${n}\n`,
    trustBundlePem: `BUNDLE ${n}\n`,
    notAfterMs: n,
  };
}

type Identity = grpc.experimental.IdentityCertificateUpdate | null;
type Ca = grpc.experimental.CaCertificateUpdate | null;

const text = (buffer: Buffer | undefined): string | undefined => buffer?.toString();

describe('workload certificate provider for grpc-js', () => {
  it('gives a new listener the certificate held now, and nothing before there is one', () => {
    const identity = new StandInIdentity();
    const provider = new WorkloadCertificateProvider(identity);
    const early: Identity[] = [];
    provider.addIdentityCertificateListener((update) => early.push(update));
    assert.deepEqual(early, [], 'no certificate yet: no update');

    identity.renew(certificates(1));
    const late: Identity[] = [];
    const cas: Ca[] = [];
    provider.addIdentityCertificateListener((update) => late.push(update));
    provider.addCaCertificateListener((update) => cas.push(update));
    assert.equal(late.length, 1);
    assert.equal(text(late[0]?.certificate), chainOf(certificates(1)));
    assert.equal(text(late[0]?.privateKey), 'KEY 1\n');
    assert.equal(text(cas[0]?.caCertificate), 'BUNDLE 1\n');
    assert.equal(early.length, 1, 'the earlier listener heard of the first certificate too');
  });

  it('passes every renewal to every listener: new leaf, chain, key and bundle', () => {
    const identity = new StandInIdentity();
    identity.held = certificates(1);
    const provider = new WorkloadCertificateProvider(identity);
    const identities: Identity[] = [];
    const cas: Ca[] = [];
    provider.addIdentityCertificateListener((update) => identities.push(update));
    provider.addCaCertificateListener((update) => cas.push(update));
    identity.renew(certificates(2));
    identity.renew(certificates(3));
    assert.deepEqual(
      identities.map((update) => text(update?.certificate)),
      [1, 2, 3].map((n) => `LEAF ${n}\nROOT ${n}\n`),
    );
    assert.deepEqual(
      identities.map((update) => text(update?.privateKey)),
      ['KEY 1\n', 'KEY 2\n', 'KEY 3\n'],
    );
    assert.deepEqual(
      cas.map((update) => text(update?.caCertificate)),
      ['BUNDLE 1\n', 'BUNDLE 2\n', 'BUNDLE 3\n'],
    );
  });

  it('follows the identity only while a listener is attached', () => {
    const identity = new StandInIdentity();
    const provider = new WorkloadCertificateProvider(identity);
    assert.equal(identity.listenerCount('renewed'), 0);
    const onIdentity = (): void => undefined;
    const onCa = (): void => undefined;
    provider.addIdentityCertificateListener(onIdentity);
    provider.addCaCertificateListener(onCa);
    assert.equal(identity.listenerCount('renewed'), 1, 'one subscription for all listeners');
    provider.removeIdentityCertificateListener(onIdentity);
    assert.equal(identity.listenerCount('renewed'), 1);
    provider.removeCaCertificateListener(onCa);
    provider.removeCaCertificateListener(onCa);
    assert.equal(identity.listenerCount('renewed'), 0, 'none left once the channel is gone');
  });
});
