/**
 * Edge tokens: a token minted with the token-issuer leaf of the mesh CA
 * verifies with the trust bundle alone, and every hostile variant is refused
 * with its own reason — a forged signature, another key with a self-signed
 * x5c, a leaf of the CA that is not the token issuer, another CA's token
 * issuer, expired, not yet valid, alg none and HS256, wrong path, room or
 * role, oversized, garbage base64. The clock is injected, so times are exact.
 */
import assert from 'node:assert/strict';
import { createHmac, KeyObject, sign, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { X509CertificateGenerator } from '@peculiar/x509';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import {
  carriedToken,
  CLOCK_LEEWAY_SEC,
  EdgeTokenGate,
  failureStatus,
  MAX_TOKEN_BYTES,
  mint,
  scopeRefusal,
  tokenIssuerId,
  verifyEdgeToken,
  withoutParameter,
  type EdgeAccess,
  type EdgeTokenSigner,
  type EdgeTokenVerdict,
} from '../../../src/shared/edge-token/index.js';
import {
  createCsr,
  generateWorkloadKey,
  revokedSerialSet,
  SIGNING_ALGORITHM,
  spiffeId,
} from '../../../src/shared/identity/index.js';
import { fuzzSeed, Random } from '../../helpers/protocol/rtsp-support.js';

const TRUST_DOMAIN = 'streammesh.test';
const NOW = Date.UTC(2026, 11, 5, 3, 0, 0);
const HOUR_MS = 3_600_000;

const dirs: string[] = [];
let ca: MeshCa;
let bundle: string;
let issuer: EdgeTokenSigner;

async function signerFrom(authority: MeshCa, id: string): Promise<EdgeTokenSigner> {
  const key = await generateWorkloadKey();
  const issued = await authority.issue(await createCsr(key, id), {
    spiffeId: id,
    lifetimeMs: 48 * HOUR_MS,
  });
  return {
    issuerId: id,
    privateKey: KeyObject.from(key.privateKey),
    certificates: [issued.certificatePem, issued.chainPem].map(
      (pem) => new X509Certificate(pem).raw,
    ),
    notAfterMs: issued.notAfter.getTime(),
  };
}

async function newCa(trustDomain: string): Promise<MeshCa> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-token-'));
  dirs.push(dir);
  return await MeshCa.loadOrCreate({ dir, trustDomain, clock: { now: () => NOW - HOUR_MS } });
}

function check(token: string | undefined, nowMs = NOW): EdgeTokenVerdict {
  return verifyEdgeToken(token, { trustBundle: bundle, trustDomain: TRUST_DOMAIN, nowMs });
}

function refusedWith(verdict: EdgeTokenVerdict, reason: string): void {
  assert.deepEqual(verdict, { ok: false, reason });
}

function viewerOf(path: string): string {
  return mint(issuer, { role: 'viewer', paths: [path] }, NOW).token;
}

/** A token whose header and claims are replaced, keeping the signature part of `token`. */
function withParts(token: string, header: object, claims?: object): string {
  const [, claimsPart = '', signature = ''] = token.split('.');
  const encode = (value: object): string =>
    Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${claims === undefined ? claimsPart : encode(claims)}.${signature}`;
}

function partsOf(token: string): {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
} {
  const [header = '', claims = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString()) as Record<string, unknown>,
  };
}

before(async () => {
  ca = await newCa(TRUST_DOMAIN);
  bundle = ca.trustBundle();
  issuer = await signerFrom(ca, tokenIssuerId(TRUST_DOMAIN));
});

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('edge tokens', () => {
  it('a minted token verifies with the trust bundle alone and carries its claims', () => {
    const minted = mint(
      issuer,
      { role: 'publisher', paths: ['cam1', 'cams/door'], sub: 'lobby screen', ttlSec: 600 },
      NOW,
    );
    assert.equal(minted.expiresAtMs, NOW + 600_000);
    const verdict = check(minted.token);
    assert.ok(verdict.ok, JSON.stringify(verdict));
    assert.equal(verdict.claims.iss, tokenIssuerId(TRUST_DOMAIN));
    assert.equal(verdict.claims.sub, 'lobby screen');
    assert.equal(verdict.claims.role, 'publisher');
    assert.deepEqual(verdict.claims.paths, ['cam1', 'cams/door']);
    assert.equal(verdict.claims.rooms, undefined);
    assert.equal(partsOf(minted.token).header['alg'], 'ES256');
  });

  it('a publisher may view and publish its paths; a viewer only view; "*" is every path', () => {
    const publisher = check(mint(issuer, { role: 'publisher', paths: ['cam1'] }, NOW).token);
    const viewer = check(viewerOf('cam1'));
    const all = check(mint(issuer, { role: 'viewer', paths: ['*'] }, NOW).token);
    assert.ok(publisher.ok && viewer.ok && all.ok);
    const access = (role: 'viewer' | 'publisher', path: string): EdgeAccess => ({ role, path });
    assert.equal(scopeRefusal(publisher.claims, access('viewer', 'cam1')), undefined);
    assert.equal(scopeRefusal(publisher.claims, access('publisher', 'cam1')), undefined);
    assert.equal(scopeRefusal(viewer.claims, access('publisher', 'cam1')), 'wrong_role');
    assert.equal(scopeRefusal(viewer.claims, access('viewer', 'cam2')), 'wrong_scope');
    assert.equal(scopeRefusal(viewer.claims, { role: 'viewer', room: 'cam1' }), 'wrong_scope');
    assert.equal(scopeRefusal(all.claims, access('viewer', 'any/path')), undefined);
  });

  it('the gate checks scope after the signature, with the status each failure gets', () => {
    const gate = new EdgeTokenGate({
      trustBundle: () => bundle,
      trustDomain: TRUST_DOMAIN,
      now: () => NOW,
    });
    const room = mint(issuer, { role: 'viewer', rooms: ['r1'] }, NOW).token;
    assert.ok(gate.check(room, { role: 'viewer', room: 'r1' }).ok);
    const wrongRoom = gate.check(room, { role: 'viewer', room: 'r2' });
    refusedWith(wrongRoom, 'wrong_scope');
    refusedWith(gate.check(room, { role: 'publisher', room: 'r1' }), 'wrong_role');
    assert.equal(failureStatus('wrong_scope'), 403);
    assert.equal(failureStatus('wrong_role'), 403);
    assert.equal(failureStatus('bad_signature'), 401);
    assert.equal(failureStatus('not_ready'), 503);
  });

  it('a compact token verifies once the gate has seen a full token of its certificate', () => {
    let clock = NOW;
    const gate = new EdgeTokenGate({
      trustBundle: () => bundle,
      trustDomain: TRUST_DOMAIN,
      now: () => clock,
    });
    const compact = mint(issuer, { role: 'viewer', paths: ['cam1'], compact: true }, NOW).token;
    assert.ok(compact.length < viewerOf('cam1').length / 2, `${compact.length} bytes`);
    assert.equal(partsOf(compact).header['x5c'], undefined);
    const access = { role: 'viewer', path: 'cam1' } as const;
    refusedWith(gate.check(compact, access), 'unknown_issuer');
    refusedWith(check(compact), 'unknown_issuer');
    assert.ok(gate.check(viewerOf('cam1'), access).ok);
    assert.ok(gate.check(compact, access).ok);
    // The remembered chain is checked again each time: past its leaf's end, refused.
    clock = issuer.notAfterMs + 1000;
    refusedWith(gate.check(compact, access), 'untrusted');
    clock = NOW;
    // A thumbprint of nothing seen, and one that is not a thumbprint.
    const header = { alg: 'ES256', 'x5t#S256': 'A'.repeat(43) };
    refusedWith(
      gate.check(signWith(issuer, header, partsOf(compact).claims), access),
      'unknown_issuer',
    );
    const bad = { alg: 'ES256', 'x5t#S256': 'short' };
    refusedWith(gate.check(signWith(issuer, bad, partsOf(compact).claims), access), 'malformed');
  });

  it('a compact token verifies at once with the signing leaves the control plane pushed', async () => {
    const leafPem = new X509Certificate(issuer.certificates[0] ?? Buffer.alloc(0)).toString();
    let pushed: string | undefined;
    const gate = new EdgeTokenGate({
      trustBundle: () => bundle,
      trustDomain: TRUST_DOMAIN,
      now: () => NOW,
      tokenIssuers: () => pushed,
    });
    const compact = mint(issuer, { role: 'viewer', paths: ['cam1'], compact: true }, NOW).token;
    const access = { role: 'viewer', path: 'cam1' } as const;
    refusedWith(gate.check(compact, access), 'unknown_issuer');
    pushed = leafPem;
    assert.ok(gate.check(compact, access).ok);
    // A pushed leaf is checked like a carried one: a token-issuer leaf of another
    // CA verifies nothing here.
    const otherCa = await newCa(TRUST_DOMAIN);
    const stranger = await signerFrom(otherCa, tokenIssuerId(TRUST_DOMAIN));
    pushed = new X509Certificate(stranger.certificates[0] ?? Buffer.alloc(0)).toString();
    const foreign = mint(stranger, { role: 'viewer', paths: ['cam1'], compact: true }, NOW).token;
    refusedWith(gate.check(foreign, access), 'untrusted');
  });

  it('no trust bundle yet: not ready, never accepted', () => {
    const gate = new EdgeTokenGate({ trustBundle: () => undefined, trustDomain: TRUST_DOMAIN });
    refusedWith(gate.check(viewerOf('cam1'), { role: 'viewer', path: 'cam1' }), 'not_ready');
    refusedWith(
      verifyEdgeToken(viewerOf('cam1'), { trustBundle: '', trustDomain: TRUST_DOMAIN, nowMs: NOW }),
      'not_ready',
    );
  });

  it('refuses a missing token', () => {
    refusedWith(check(undefined), 'missing');
    refusedWith(check(''), 'missing');
  });

  it('refuses a forged signature and forged claims', () => {
    const token = viewerOf('cam1');
    const [header = '', claims = '', signature = ''] = token.split('.');
    const flipped = Buffer.from(signature, 'base64url');
    flipped[10] = (flipped[10] ?? 0) ^ 0x01;
    refusedWith(check(`${header}.${claims}.${flipped.toString('base64url')}`), 'bad_signature');
    // The claims widened to every path, the signature kept.
    const widened = { ...partsOf(token).claims, paths: ['*'] };
    refusedWith(check(withParts(token, partsOf(token).header, widened)), 'bad_signature');
    refusedWith(check(`${header}.${claims}.`), 'bad_signature');
  });

  it('refuses another key with a self-signed x5c naming the token issuer', async () => {
    const keys = await generateWorkloadKey();
    const selfSigned = await X509CertificateGenerator.createSelfSigned(
      {
        keys,
        name: 'CN=token-issuer',
        notBefore: new Date(NOW - HOUR_MS),
        notAfter: new Date(NOW + HOUR_MS),
        signingAlgorithm: SIGNING_ALGORITHM,
        extensions: [],
      },
      webcrypto,
    );
    const forger: EdgeTokenSigner = {
      issuerId: tokenIssuerId(TRUST_DOMAIN),
      privateKey: KeyObject.from(keys.privateKey),
      certificates: [Buffer.from(selfSigned.rawData)],
      notAfterMs: NOW + HOUR_MS,
    };
    refusedWith(check(mint(forger, { role: 'viewer', paths: ['cam1'] }, NOW).token), 'untrusted');
    // The real leaf in x5c, signed with the forger's key.
    const real = partsOf(viewerOf('cam1')).header;
    const lying = mint(
      { ...forger, certificates: issuer.certificates },
      { role: 'viewer', paths: ['cam1'] },
      NOW,
    );
    assert.deepEqual(partsOf(lying.token).header['x5c'], real['x5c']);
    refusedWith(check(lying.token), 'bad_signature');
  });

  it("refuses a token of a revoked signer (by serial or by the issuer's identity), 401, and takes the next signer's", async () => {
    const token = viewerOf('cam1');
    const [leaf] = issuer.certificates;
    assert.ok(leaf !== undefined);
    const serial = new X509Certificate(leaf).serialNumber;
    let revoked = revokedSerialSet([serial]);
    const gate = new EdgeTokenGate({
      trustBundle: () => bundle,
      trustDomain: TRUST_DOMAIN,
      now: () => NOW,
      revoked: () => revoked,
    });
    refusedWith(gate.verify(token), 'revoked');
    assert.equal(failureStatus('revoked'), 401);
    // Revoked by identity: every signer of the token issuer made before the rule.
    revoked = revokedSerialSet(
      [],
      [
        {
          spiffeId: tokenIssuerId(TRUST_DOMAIN),
          nodeId: null,
          issuedBeforeMs: Date.now() + 60_000,
        },
      ],
    );
    refusedWith(gate.verify(token), 'revoked');
    // The next signer, issued after the rule, signs tokens every edge takes.
    revoked = revokedSerialSet(
      [serial],
      [{ spiffeId: tokenIssuerId(TRUST_DOMAIN), nodeId: null, issuedBeforeMs: NOW - 2 * HOUR_MS }],
    );
    const next = await signerFrom(ca, tokenIssuerId(TRUST_DOMAIN));
    assert.ok(gate.verify(mint(next, { role: 'viewer', paths: ['cam1'] }, NOW).token).ok);
  });

  it('refuses a leaf of the CA that is not the token issuer', async () => {
    const proxy = spiffeId({
      trustDomain: TRUST_DOMAIN,
      namespace: 'default',
      serviceAccount: 'streammesh-proxy',
    });
    const workload = await signerFrom(ca, proxy);
    refusedWith(check(mint(workload, { role: 'viewer', paths: ['cam1'] }, NOW).token), 'untrusted');
    // Even when it claims to be the issuer in iss.
    const claiming = { ...workload, issuerId: tokenIssuerId(TRUST_DOMAIN) };
    refusedWith(check(mint(claiming, { role: 'viewer', paths: ['cam1'] }, NOW).token), 'untrusted');
  });

  it('refuses the token issuer of another CA, and of another trust domain', async () => {
    const other = await newCa(TRUST_DOMAIN);
    const foreign = await signerFrom(other, tokenIssuerId(TRUST_DOMAIN));
    refusedWith(check(mint(foreign, { role: 'viewer', paths: ['cam1'] }, NOW).token), 'untrusted');
    const elsewhere = verifyEdgeToken(viewerOf('cam1'), {
      trustBundle: bundle,
      trustDomain: 'other.test',
      nowMs: NOW,
    });
    refusedWith(elsewhere, 'untrusted');
  });

  it('refuses an expired token and one not yet valid, past the clock leeway', () => {
    const token = mint(issuer, { role: 'viewer', paths: ['cam1'], ttlSec: 60 }, NOW).token;
    const leewayMs = CLOCK_LEEWAY_SEC * 1000;
    assert.ok(check(token, NOW + 60_000 + leewayMs - 1000).ok);
    refusedWith(check(token, NOW + 60_000 + leewayMs), 'expired');
    refusedWith(check(token, NOW - leewayMs - 1000), 'not_yet_valid');
    // nbf ahead of iat (a token for later), re-signed by the issuer itself.
    const { claims } = partsOf(token);
    const later = signWith(
      issuer,
      { alg: 'ES256', x5c: partsOf(token).header['x5c'] },
      {
        ...claims,
        nbf: Number(claims['iat']) + 600,
        exp: Number(claims['iat']) + 3600,
      },
    );
    refusedWith(check(later), 'not_yet_valid');
    assert.ok(check(later, NOW + 600_000).ok);
  });

  it('refuses alg none, HS256 (keyed with the public certificate) and a crit header', () => {
    const token = viewerOf('cam1');
    const { header, claims } = partsOf(token);
    refusedWith(check(withParts(token, { ...header, alg: 'none' })), 'unsupported_algorithm');
    const [, claimsPart = ''] = token.split('.');
    const hsHeader = Buffer.from(JSON.stringify({ ...header, alg: 'HS256' })).toString('base64url');
    const secret = issuer.certificates[0] ?? Buffer.alloc(0);
    const mac = createHmac('sha256', secret)
      .update(`${hsHeader}.${claimsPart}`)
      .digest('base64url');
    refusedWith(check(`${hsHeader}.${claimsPart}.${mac}`), 'unsupported_algorithm');
    refusedWith(
      check(withParts(token, { ...header, alg: 'none' }, claims).replace(/\.[^.]*$/, '.')),
      'unsupported_algorithm',
    );
    const crit = signWith(issuer, { ...header, crit: ['exp'] }, claims);
    refusedWith(check(crit), 'malformed');
  });

  it('refuses an oversized token unparsed, and garbage', () => {
    refusedWith(check('a'.repeat(MAX_TOKEN_BYTES + 1)), 'oversized');
    refusedWith(check('not a token'), 'malformed');
    refusedWith(check('a.b'), 'malformed');
    refusedWith(check('a.b.c.d'), 'malformed');
    const [header = '', claims = '', signature = ''] = viewerOf('cam1').split('.');
    // Characters outside base64url, and padding, are not skipped.
    refusedWith(check(`${header}!.${claims}.${signature}`), 'malformed');
    // The signature covers the claims' bytes as sent: any change to them fails it first.
    refusedWith(check(`${header}.${claims}==.${signature}`), 'bad_signature');
    refusedWith(check(`${header}.${claims}.${signature}!`), 'bad_signature');
    refusedWith(
      check(`${Buffer.from('[1,2]').toString('base64url')}.${claims}.${signature}`),
      'malformed',
    );
    const x5cGarbage = withParts(viewerOf('cam1'), { alg: 'ES256', x5c: ['not*base64'] });
    refusedWith(check(x5cGarbage), 'malformed');
    refusedWith(check(withParts(viewerOf('cam1'), { alg: 'ES256', x5c: ['AAAA'] })), 'malformed');
  });

  it('refuses signed claims of the wrong shape', () => {
    const { header, claims } = partsOf(viewerOf('cam1'));
    const bad: Record<string, unknown>[] = [
      { ...claims, role: 'admin' },
      { ...claims, paths: undefined },
      { ...claims, rooms: ['r1'] },
      { ...claims, paths: 'cam1' },
      { ...claims, exp: 'tomorrow' },
      { ...claims, exp: Number(claims['iat']) + 31 * 86_400 },
    ];
    for (const shape of bad) refusedWith(check(signWith(issuer, header, shape)), 'malformed');
  });

  it('fuzz: no mutation of a genuine token throws or is accepted', () => {
    const seed = fuzzSeed();
    const random = new Random(seed);
    const genuine = mint(issuer, { role: 'viewer', paths: ['cam1'], sub: 'fuzz' }, NOW).token;
    const alphabet = 'ABCxyz019-_.+/=!% ';
    for (let round = 0; round < 2_000; round += 1) {
      let mutated: string;
      switch (random.int(4)) {
        case 0:
          mutated = genuine.slice(0, random.int(genuine.length));
          break;
        case 1: {
          const at = random.int(genuine.length);
          const replacement = alphabet[random.int(alphabet.length)] ?? 'A';
          mutated = genuine.slice(0, at) + replacement + genuine.slice(at + 1);
          break;
        }
        case 2: {
          const at = random.int(genuine.length);
          mutated =
            genuine.slice(0, at) +
            random.bytes(1 + random.int(8)).toString('latin1') +
            genuine.slice(at);
          break;
        }
        default: {
          const [header = '', claims = '', signature = ''] = genuine.split('.');
          const parts = [header, claims, signature];
          parts[random.int(3)] = random.bytes(random.int(64)).toString('base64url');
          mutated = parts.join('.');
        }
      }
      if (mutated === genuine) continue;
      const verdict = check(mutated);
      assert.equal(verdict.ok, false, `seed ${seed} round ${round}: accepted ${mutated}`);
    }
  });

  it('reads the token from Bearer or the query, and refuses two that differ', () => {
    const url = (query: string): string => `rtsp://127.0.0.1:8554/cam1${query}`;
    assert.deepEqual(carriedToken([], url(''), 'jwt'), { kind: 'absent' });
    assert.deepEqual(carriedToken([], url('?jwt=a.b.c'), 'jwt'), { kind: 'given', token: 'a.b.c' });
    assert.deepEqual(carriedToken([], url('?x=1&jwt=a%2Eb.c#f'), 'jwt'), {
      kind: 'given',
      token: 'a.b.c',
    });
    assert.deepEqual(carriedToken(['Bearer a.b.c'], url(''), 'jwt'), {
      kind: 'given',
      token: 'a.b.c',
    });
    assert.deepEqual(carriedToken(['bearer  a.b.c '], url('?jwt=a.b.c'), 'jwt'), {
      kind: 'given',
      token: 'a.b.c',
    });
    // Basic and Digest are not tokens: left to whoever reads them.
    assert.deepEqual(carriedToken(['Basic YTpi'], url(''), 'jwt'), { kind: 'absent' });
    for (const [headers, query] of [
      [['Bearer a.b.c'], '?jwt=x.y.z'],
      [[], '?jwt=a.b.c&jwt=a.b.c'],
      [['Bearer a.b.c', 'Bearer a.b.c'], ''],
      [['Bearer a b'], ''],
      [[], '?jwt=%E0%A4%A'],
    ] as const) {
      assert.deepEqual(carriedToken(headers, url(query), 'jwt'), { kind: 'malformed' }, query);
    }
    assert.equal(withoutParameter(url('?a=1&jwt=a.b.c&b=2'), 'jwt'), url('?a=1&b=2'));
    assert.equal(withoutParameter(url('?jwt=a.b.c'), 'jwt'), url(''));
  });

  it('mint refuses a request no edge should honour', () => {
    assert.throws(() => mint(issuer, { role: 'viewer' }, NOW), /paths .* or rooms/);
    assert.throws(
      () => mint(issuer, { role: 'viewer', paths: ['a'], rooms: ['b'] }, NOW),
      /not both/,
    );
    assert.throws(() => mint(issuer, { role: 'viewer', paths: ['a b'] }, NOW), /not a name/);
    assert.throws(() => mint(issuer, { role: 'viewer', paths: ['a'], ttlSec: 0 }, NOW), /ttlSec/);
    // No token outlives its signing certificate.
    assert.throws(
      () => mint(issuer, { role: 'viewer', paths: ['a'], ttlSec: 30 * 86_400 }, NOW),
      /signing certificate expires/,
    );
  });
});

/** A token with these header and claims, signed properly by `signer`'s key. */
function signWith(signer: EdgeTokenSigner, header: object, claims: object): string {
  const encode = (value: object): string =>
    Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: signer.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}
