/**
 * The control plane's token issuer: its leaf names the token-issuer ID and
 * outlives any token (so a 30-day token is minted at once); a new key and
 * leaf are made once half the leaf's life has passed, and after a CA
 * rotation, so tokens keep verifying against the bundle; a leaf revoked on
 * the mesh's list is replaced at the next mint, and edges holding the list
 * refuse what it signed. The clock is injected, so the half-life is exact.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MeshCa, Revocations } from '../../../src/control-plane/ca/index.js';
import { TOKEN_ISSUER_LIFETIME_MS, TokenIssuer } from '../../../src/control-plane/tokens/index.js';
import {
  MAX_TOKEN_TTL_SEC,
  tokenIssuerId,
  verifyEdgeToken,
} from '../../../src/shared/edge-token/index.js';

const TRUST_DOMAIN = 'streammesh.test';
const START = Date.UTC(2026, 11, 5, 3, 0, 0);
const dirs: string[] = [];

/** The signing leaf a token carries. */
function leafOf(token: string): X509Certificate {
  const [header = ''] = token.split('.');
  const x5c = (JSON.parse(Buffer.from(header, 'base64url').toString()) as { x5c: string[] }).x5c;
  return new X509Certificate(Buffer.from(x5c[0] ?? '', 'base64'));
}

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('TokenIssuer', () => {
  it('signs with a token-issuer leaf, renewed at half-life and after a CA rotation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'token-issuer-'));
    dirs.push(dir);
    let now = START;
    const clock = { now: () => now };
    const ca = await MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN, clock });
    const issuer = await TokenIssuer.start(ca, clock);
    const verify = (token: string): boolean =>
      verifyEdgeToken(token, {
        trustBundle: ca.trustBundle(),
        trustDomain: TRUST_DOMAIN,
        nowMs: now,
      }).ok;

    const longest = await issuer.mint({ role: 'viewer', paths: ['*'], ttlSec: MAX_TOKEN_TTL_SEC });
    assert.ok(verify(longest.token));
    const first = leafOf(longest.token);
    assert.equal(first.subjectAltName, `URI:${tokenIssuerId(TRUST_DOMAIN)}`);
    assert.ok(Date.parse(first.validTo) >= longest.expiresAtMs, 'the leaf outlives the token');
    assert.equal(first.checkIssued(new X509Certificate(ca.issuerCertificate())), true);

    now = START + TOKEN_ISSUER_LIFETIME_MS / 2 - 60_000;
    const before = leafOf((await issuer.mint({ role: 'viewer', rooms: ['r'] })).token);
    assert.equal(before.serialNumber, first.serialNumber, 'the same leaf before half-life');
    assert.ok(verify(longest.token), 'the first 30-day token still verifies');

    now = START + TOKEN_ISSUER_LIFETIME_MS / 2 + 60_000;
    const renewed = await issuer.mint({ role: 'viewer', rooms: ['r'] });
    assert.notEqual(leafOf(renewed.token).serialNumber, first.serialNumber, 'a new leaf');
    assert.ok(verify(renewed.token));

    await ca.rotate();
    const rotated = await issuer.mint({ role: 'viewer', rooms: ['r'] });
    const rotatedLeaf = leafOf(rotated.token);
    assert.equal(rotatedLeaf.checkIssued(new X509Certificate(ca.issuerCertificate())), true);
    ca.retire();
    assert.ok(
      verify(rotated.token),
      'signed under the new root: verifies after the old one retires',
    );
    assert.equal(verify(renewed.token), false, 'the old root retired: its tokens are untrusted');
  });

  it('replaces a revoked leaf at the next mint; edges with the list refuse its tokens, not the new ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'token-issuer-revoked-'));
    dirs.push(dir);
    const clock = { now: () => Date.now() };
    const ca = await MeshCa.loadOrCreate({
      dir: join(dir, 'ca'),
      trustDomain: TRUST_DOMAIN,
      clock,
    });
    const revocations = new Revocations({ dir: join(dir, 'ca'), maxLeafLifetimeMs: 3_600_000 });
    const issuer = await TokenIssuer.start(ca, clock, undefined, revocations);
    const verify = (token: string): string =>
      ((verdict) => (verdict.ok ? 'ok' : verdict.reason))(
        verifyEdgeToken(token, {
          trustBundle: ca.trustBundle(),
          trustDomain: TRUST_DOMAIN,
          nowMs: Date.now(),
          revoked: revocations,
        }),
      );
    const before = await issuer.mint({ role: 'viewer', rooms: ['r'] });
    const leaf = leafOf(before.token);
    assert.equal(verify(before.token), 'ok');
    // Certificates tell when they were issued to the second: revoke later than that.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const revoked = revocations.revoke(leaf.serialNumber);
    assert.ok(revoked.ok && revoked.known, 'the issuer noted its leaf');
    assert.equal(verify(before.token), 'revoked');
    const after = await issuer.mint({ role: 'viewer', rooms: ['r'] });
    assert.notEqual(leafOf(after.token).serialNumber, leaf.serialNumber, 'a new leaf');
    assert.equal(verify(after.token), 'ok');
  });
});
