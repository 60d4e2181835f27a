/**
 * Serials as the mesh compares them: node's upper-case hex, openssl's
 * colon form and a pasted lower-case one name the same certificate; what is
 * not a serial (too long, not hex, empty) names none and matches nothing.
 * Against a real certificate: a PeerCertificate's serialNumber as node:tls
 * gives it is found in a set made from X509Certificate's; an identity rule
 * revokes a leaf of that SPIFFE ID and node issued before its time (read
 * back from notBefore and the CA's backdating), not one issued after, and
 * not another node's.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import {
  createCsr,
  generateWorkloadKey,
  isRevokedCertificate,
  isRevokedX509,
  NO_REVOCATIONS,
  normalizeSerial,
  revokedSerialSet,
} from '../../../src/shared/identity/index.js';

describe('revoked serials', () => {
  it('reads hex in any case, with or without colons and leading zeros, as one form', () => {
    assert.equal(normalizeSerial('4a:1b:00:ff'), '4A1B00FF');
    assert.equal(normalizeSerial('004A1B00FF'), '4A1B00FF');
    assert.equal(normalizeSerial('4A1B00FF'), '4A1B00FF');
    assert.equal(normalizeSerial('0'), '0');
    assert.equal(normalizeSerial('F'.repeat(40)), 'F'.repeat(40));
  });

  it('names no serial for what is not one', () => {
    for (const bad of ['', 'xyz', '4A 1B', '4A::1B', ':4A', 'F'.repeat(41), '4A;', '-1']) {
      assert.equal(normalizeSerial(bad), undefined, JSON.stringify(bad));
    }
    const set = revokedSerialSet(['xyz', '4A']);
    assert.equal(set.size, 1);
    assert.equal(set.has('xyz'), false);
  });

  it('finds an issued certificate by the serial node:tls reports for it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revoked-serials-'));
    try {
      const ca = await MeshCa.loadOrCreate({ dir, trustDomain: 'mesh.test' });
      const keys = await generateWorkloadKey();
      const id = 'spiffe://mesh.test/ns/default/sa/web';
      const issued = await ca.issue(await createCsr(keys, id), { spiffeId: id });
      const serial = new X509Certificate(issued.certificatePem).serialNumber;
      assert.equal(issued.serialNumber, normalizeSerial(serial));
      const colons = serial.toLowerCase().match(/../g)?.join(':') ?? '';
      const set = revokedSerialSet([colons]);
      assert.equal(isRevokedCertificate({ serialNumber: serial }, set), true);
      assert.equal(isRevokedCertificate({ serialNumber: '4A' }, set), false);
      assert.equal(isRevokedCertificate({}, set), false);
      assert.equal(isRevokedCertificate(undefined, set), false);
      assert.equal(isRevokedCertificate({ serialNumber: serial }, NO_REVOCATIONS), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('revokes by identity a leaf issued before the rule, read from its notBefore, on both kinds of certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revoked-identity-'));
    try {
      const ca = await MeshCa.loadOrCreate({ dir, trustDomain: 'mesh.test' });
      const id = 'spiffe://mesh.test/ns/default/sa/web';
      const keys = await generateWorkloadKey();
      const issued = await ca.issue(await createCsr(keys, id), { spiffeId: id, nodeId: 'web-1' });
      const leaf = new X509Certificate(issued.certificatePem);
      // As node:tls hands over a peer's certificate.
      const peer = {
        serialNumber: leaf.serialNumber,
        valid_from: leaf.validFrom,
        subject: { CN: 'web-1' },
        subjectaltname: leaf.subjectAltName ?? '',
      };
      const issuedAt = Date.now();
      const after = revokedSerialSet(
        [],
        [{ spiffeId: id, nodeId: 'web-1', issuedBeforeMs: issuedAt + 5_000 }],
      );
      assert.equal(isRevokedX509(leaf, after), true);
      assert.equal(isRevokedCertificate(peer, after), true);
      // A rule made before the leaf was issued (the node bootstrapped again since) does not touch it.
      const before = revokedSerialSet(
        [],
        [{ spiffeId: id, nodeId: 'web-1', issuedBeforeMs: issuedAt - 5_000 }],
      );
      assert.equal(isRevokedX509(leaf, before), false);
      assert.equal(isRevokedCertificate(peer, before), false);
      const otherNode = revokedSerialSet(
        [],
        [{ spiffeId: id, nodeId: 'web-2', issuedBeforeMs: issuedAt + 5_000 }],
      );
      assert.equal(isRevokedCertificate(peer, otherNode), false);
      const anyNode = revokedSerialSet(
        [],
        [{ spiffeId: id, nodeId: null, issuedBeforeMs: issuedAt + 5_000 }],
      );
      assert.equal(isRevokedCertificate(peer, anyNode), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
