/**
 * MeshCa.issue: the certificate says what the CA decided, whatever the CSR
 * asked for. Certificates are read back with node:crypto's X509Certificate,
 * not with the library that wrote them, so a fault of the writer cannot
 * hide in the reader. The clock is injected, so validity times are exact.
 */
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CaError, CLOCK_SKEW_MS, MeshCa } from '../../../../src/control-plane/ca/index.js';
import { createCsr, generateWorkloadKey, spiffeId } from '../../../../src/shared/identity/index.js';

const TRUST_DOMAIN = 'streammesh.test';
/** A whole second: X.509 times have a one-second resolution. */
const NOW = Date.UTC(2026, 11, 5, 3, 0, 0);
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const users = spiffeId({
  trustDomain: TRUST_DOMAIN,
  namespace: 'default',
  serviceAccount: 'users',
});
const billing = spiffeId({
  trustDomain: TRUST_DOMAIN,
  namespace: 'prod',
  serviceAccount: 'billing',
});
const foreign = spiffeId({
  trustDomain: 'other.test',
  namespace: 'default',
  serviceAccount: 'users',
});

function rejectsWith(code: string): (error: unknown) => boolean {
  return (error) => error instanceof CaError && error.code === code;
}

/** The CSR's DER with one byte flipped at `offsetFromEnd`, back in PEM. */
function tampered(csrPem: string, offsetFromEnd: number): string {
  const base64 = csrPem.replace(/-----[^-]+-----|\s/g, '');
  const der = Buffer.from(base64, 'base64');
  const index = der.length - offsetFromEnd;
  der[index] = (der[index] ?? 0) ^ 0x01;
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

describe('MeshCa.issue', () => {
  let dir: string;
  let ca: MeshCa;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-ca-unit-'));
    ca = await MeshCa.loadOrCreate({
      dir: join(dir, 'ca'),
      trustDomain: TRUST_DOMAIN,
      clock: { now: () => NOW },
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names exactly the SPIFFE ID it is given, whatever the CSR asked for', async () => {
    const key = await generateWorkloadKey();
    // The CSR asks for billing (and could ask for anything); the CA is told users.
    const issued = await ca.issue(await createCsr(key, billing), { spiffeId: users });
    const leaf = new X509Certificate(issued.certificatePem);
    assert.equal(leaf.subjectAltName, `URI:${users}`);
    assert.equal(leaf.subject, 'O=streammesh');
    // The leaf carries the CSR's key, signed by the issuing root.
    const spki = (pem: string) =>
      new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
    const csrKey = Buffer.from(await webcrypto.subtle.exportKey('spki', key.publicKey));
    assert.deepEqual(spki(issued.certificatePem), csrKey);
    assert.ok(leaf.verify(new X509Certificate(issued.chainPem).publicKey));
    assert.ok(leaf.checkIssued(new X509Certificate(ca.trustBundle())));
  });

  it('is a TLS leaf for servers and clients, not a CA, valid from now - 5 min to now + lifetime', async () => {
    const lifetimeMs = 3_600_000;
    const issued = await ca.issue(await createCsr(await generateWorkloadKey(), users), {
      spiffeId: users,
      lifetimeMs,
    });
    const leaf = new X509Certificate(issued.certificatePem);
    assert.equal(leaf.ca, false);
    assert.deepEqual([...leaf.keyUsage].sort(), [SERVER_AUTH, CLIENT_AUTH].sort());
    assert.equal(Date.parse(leaf.validFrom), NOW - CLOCK_SKEW_MS);
    assert.equal(Date.parse(leaf.validTo), NOW + lifetimeMs);
    assert.equal(issued.notAfter.getTime(), NOW + lifetimeMs);
    const defaultLifetime = await ca.issue(await createCsr(await generateWorkloadKey(), users), {
      spiffeId: users,
    });
    assert.equal(
      Date.parse(new X509Certificate(defaultLifetime.certificatePem).validTo),
      NOW + 86_400_000,
    );
  });

  it('gives every leaf a different serial', async () => {
    const csr = await createCsr(await generateWorkloadKey(), users);
    const serials = new Set<string>();
    for (let i = 0; i < 20; i += 1) {
      serials.add(
        new X509Certificate((await ca.issue(csr, { spiffeId: users })).certificatePem).serialNumber,
      );
    }
    assert.equal(serials.size, 20);
  });

  it('refuses a CSR whose signature does not verify, and one that is not a CSR', async () => {
    const csr = await createCsr(await generateWorkloadKey(), users);
    // The last byte is in the signature; 100 from the end is in the signed part (the public key or SAN).
    for (const broken of [tampered(csr, 1), tampered(csr, 100)]) {
      assert.notEqual(broken, csr);
      await assert.rejects(ca.issue(broken, { spiffeId: users }), rejectsWith('ERR_CA_CSR'));
    }
    for (const junk of [
      '',
      'hello',
      csr.slice(0, csr.length / 2),
      ca.trustBundle(),
      'A'.repeat(100_000),
    ]) {
      await assert.rejects(ca.issue(junk, { spiffeId: users }), rejectsWith('ERR_CA_CSR'));
    }
  });

  it('refuses an ID of another trust domain, or no SPIFFE ID at all', async () => {
    const csr = await createCsr(await generateWorkloadKey(), users);
    for (const id of [foreign, 'spiffe://streammesh.test/admin', `${users}/`, 'users']) {
      await assert.rejects(ca.issue(csr, { spiffeId: id }), rejectsWith('ERR_CA_IDENTITY'), id);
    }
  });
});
