/**
 * Revocations (src/control-plane/ca/revocations.ts), the list behind
 * POST /certificates/<serial>/revoke: serials in the one form every TLS end
 * compares; for a certificate this control plane issued, every certificate
 * of its SPIFFE ID and node id issued before the revocation (its renewals);
 * how long each entry stays (until what it revokes has expired, plus the
 * CA's backdating), the bounds, and revoked.json (0600, read back by the
 * next instance, refused when it is not a list or holds too many); on the
 * kubernetes registry (notShared, set by openMeshCaOnKubernetes) every
 * revocation refused, saying why and what to do instead, and nothing
 * listed. The clock is injected, so times are exact.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  CaError,
  REVOCATIONS_FILE,
  Revocations,
  type RevokedEntry,
  type RevokeResult,
} from '../../../src/control-plane/ca/index.js';
import { MAX_REVOKED_IDENTITIES, MAX_REVOKED_SERIALS } from '../../../src/config/index.js';
import { ISSUE_BACKDATE_MS } from '../../../src/shared/identity/index.js';
import { ApiException } from '@kubernetes/client-node';
import { meshConfigSchema } from '../../../src/config/index.js';
import { openMeshCa, openMeshCaOnKubernetes } from '../../../src/control-plane/identity/index.js';
import type { SecretApi } from '../../../src/control-plane/kubernetes/index.js';
import { createLogger } from '../../../src/shared/log.js';
import type { Clock } from '../../../src/shared/clock.js';

const NOW = Date.UTC(2026, 11, 5, 3, 0, 0);
const MAX_LEAF_LIFETIME_MS = 24 * 3_600_000;
const ID = 'spiffe://mesh.test/ns/default/sa/streammesh-proxy';
/** A serial as MeshCa makes them: 16 bytes, upper-case hex. */
const SERIAL = '5A0102030405060708090A0B0C0D0E0F';

class FakeClock implements Clock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
}

function listed(result: RevokeResult): { entry: RevokedEntry; known: boolean } {
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return { entry: result.entry, known: result.known };
}

function caErrorWith(code: string): (error: unknown) => boolean {
  return (error) => error instanceof CaError && error.code === code;
}

/** `count` distinct serials (as MeshCa's, never with a leading zero). */
function serials(count: number, prefix = '6'): string[] {
  return Array.from(
    { length: count },
    (_, index) => `${prefix}${index.toString(16).padStart(8, '0')}`,
  );
}

describe('Revocations', () => {
  let dir: string;
  let clock: FakeClock;
  const open = (metrics?: Registry): Revocations =>
    new Revocations({
      dir,
      maxLeafLifetimeMs: MAX_LEAF_LIFETIME_MS,
      clock,
      ...(metrics === undefined ? {} : { metrics }),
    });
  const file = (): string => join(dir, REVOCATIONS_FILE);

  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'revocations-')), 'ca');
    clock = new FakeClock(NOW);
  });
  afterEach(() => {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  it("refuses every revocation when its list would be one replica's only, listing and writing nothing", () => {
    const detail = 'revocations are not shared between control plane replicas';
    const revocations = new Revocations({
      dir,
      maxLeafLifetimeMs: MAX_LEAF_LIFETIME_MS,
      clock,
      notShared: detail,
    });
    let changes = 0;
    revocations.on('change', () => (changes += 1));
    revocations.noteIssued(SERIAL, ID, NOW + 3_600_000, 'proxy-1');
    assert.deepEqual(revocations.revoke(SERIAL), { ok: false, reason: 'not_shared', detail });
    // What is not a serial is still said to be so.
    assert.deepEqual(revocations.revoke('xyz'), { ok: false, reason: 'not_a_serial' });
    assert.equal(revocations.has(SERIAL), false);
    assert.deepEqual(revocations.entries(), []);
    assert.equal(changes, 0);
    assert.throws(() => statSync(file()), { code: 'ENOENT' });
  });

  it("lists a serial in one form whatever form it is given in (openssl's colons, lower case, leading zeros)", () => {
    const revocations = open();
    const colons = `00:${SERIAL.toLowerCase().match(/../g)?.join(':') ?? ''}`;
    const { entry } = listed(revocations.revoke(colons));
    assert.equal(entry.serial, SERIAL);
    assert.deepEqual(revocations.serials(), [SERIAL]);
    for (const form of [SERIAL, SERIAL.toLowerCase(), `000${SERIAL}`, colons]) {
      assert.equal(revocations.has(form), true, form);
    }
    assert.equal(revocations.has('5A01'), false);
  });

  it('refuses what is not a serial, and writes nothing', () => {
    const revocations = open();
    let changes = 0;
    revocations.on('change', () => (changes += 1));
    for (const bad of ['', 'xyz', 'a'.repeat(41), '5a:', ':5a', '5a::01', '5a 01', '0x5a']) {
      assert.deepEqual(revocations.revoke(bad), { ok: false, reason: 'not_a_serial' }, bad);
    }
    assert.equal(revocations.has('xyz'), false);
    assert.equal(changes, 0);
    assert.throws(() => statSync(file()), { code: 'ENOENT' });
  });

  it('names whose a serial it issued was, and revokes that identity up to now for a lifetime', () => {
    const revocations = open();
    const notAfterMs = NOW + 3_600_000;
    revocations.noteIssued(SERIAL.toLowerCase(), ID, notAfterMs, 'proxy-a');
    clock.ms = NOW + 1_000;
    const { entry, known } = listed(revocations.revoke(SERIAL));
    assert.equal(known, true);
    assert.deepEqual(entry, {
      serial: SERIAL,
      notAfterMs,
      spiffeId: ID,
      nodeId: 'proxy-a',
      revokedAtMs: NOW + 1_000,
      identityUntilMs: NOW + 1_000 + MAX_LEAF_LIFETIME_MS,
    });
    assert.deepEqual(revocations.identities(), [
      { spiffeId: ID, nodeId: 'proxy-a', issuedBeforeMs: NOW + 1_000 },
    ]);
  });

  it('keeps a serial it never issued for the longest leaf lifetime, whose unknown, revoking no identity', () => {
    const revocations = open();
    revocations.noteIssued('not a serial', ID, NOW + 1);
    const { entry, known } = listed(revocations.revoke(SERIAL));
    assert.equal(known, false);
    assert.deepEqual(entry, {
      serial: SERIAL,
      notAfterMs: NOW + MAX_LEAF_LIFETIME_MS,
      spiffeId: null,
      nodeId: null,
      revokedAtMs: NOW,
      identityUntilMs: null,
    });
    assert.deepEqual(revocations.identities(), []);
    assert.equal(revocations.revokesIssue(ID, undefined, NOW - 1), false);
  });

  it("revokes the renewals of a node's certificate (same SPIFFE ID and node, issued before), not later ones or other nodes'", () => {
    const revocations = open();
    revocations.noteIssued(SERIAL, ID, NOW + 3_600_000, 'proxy-a');
    clock.ms = NOW + 10_000;
    listed(revocations.revoke(SERIAL));
    assert.equal(revocations.revokesIssue(ID, 'proxy-a', NOW + 9_999), true);
    assert.equal(revocations.revokesIssue(ID, 'proxy-a', NOW + 10_000), false, 'issued after');
    assert.equal(revocations.revokesIssue(ID, 'proxy-b', NOW), false, 'another node');
    assert.equal(revocations.revokesIssue(`${ID}-x`, 'proxy-a', NOW), false, 'another identity');
    // Until everything issued before it has expired, on a lagging clock too.
    clock.ms = NOW + 10_000 + MAX_LEAF_LIFETIME_MS + ISSUE_BACKDATE_MS - 1;
    assert.equal(revocations.revokesIssue(ID, 'proxy-a', NOW), true);
    clock.ms += 1;
    assert.equal(revocations.revokesIssue(ID, 'proxy-a', NOW), false);
    assert.deepEqual(revocations.identities(), []);
  });

  it("revokes every operator certificate of an identity issued before (no node id: any CN), and keeps a long-lived signer's rule its whole life", () => {
    const revocations = open();
    const operator = 'spiffe://mesh.test/ns/streammesh/sa/operator';
    revocations.noteIssued(SERIAL, operator, NOW + 3_600_000, null);
    const signer = 'spiffe://mesh.test/ns/streammesh/sa/token-issuer';
    const sixtyDays = 60 * 24 * 3_600_000;
    revocations.noteIssued('7A', signer, NOW + sixtyDays, null);
    listed(revocations.revoke(SERIAL));
    assert.equal(revocations.revokesIssue(operator, undefined, NOW - 1), true);
    assert.equal(revocations.revokesIssue(operator, 'anything', NOW - 1), true);
    const { entry } = listed(revocations.revoke('7A'));
    assert.equal(entry.identityUntilMs, NOW + sixtyDays);
  });

  it('answers a second revocation with the first entry, telling no one again', () => {
    const revocations = open();
    let changes = 0;
    revocations.on('change', () => (changes += 1));
    const first = listed(revocations.revoke(SERIAL)).entry;
    clock.ms = NOW + 5_000;
    assert.deepEqual(listed(revocations.revoke(SERIAL.toLowerCase())).entry, first);
    assert.equal(changes, 1);
    assert.equal(revocations.entries().length, 1);
  });

  it('counts revocations by whether it issued them', async () => {
    const metrics = new Registry();
    const revocations = open(metrics);
    revocations.noteIssued(SERIAL, ID, NOW + 60_000);
    listed(revocations.revoke(SERIAL));
    listed(revocations.revoke('7B'));
    listed(revocations.revoke('7C'));
    const counted = await metrics
      .getSingleMetric('streammesh_control_plane_certificates_revoked_total')
      ?.get();
    const byKnown = Object.fromEntries(
      (counted?.values ?? []).map((sample) => [String(sample.labels['known']), sample.value]),
    );
    assert.deepEqual(byKnown, { true: 1, false: 2 });
  });

  it('forgets an entry once what it revokes has expired (plus the backdating): has() false, gone from serials()', () => {
    const revocations = open();
    listed(revocations.revoke(SERIAL));
    clock.ms = NOW + 60_000;
    listed(revocations.revoke('7B'));
    const gone = NOW + MAX_LEAF_LIFETIME_MS + ISSUE_BACKDATE_MS;
    clock.ms = gone - 1;
    assert.equal(revocations.has(SERIAL), true);
    assert.deepEqual(revocations.serials().sort(), [SERIAL, '7B'].sort());
    clock.ms = gone;
    assert.equal(revocations.has(SERIAL), false);
    assert.deepEqual(revocations.serials(), ['7B']);
    assert.deepEqual(
      revocations.entries().map((entry) => entry.serial),
      ['7B'],
    );
  });

  it('writes revoked.json 0600 at each revocation, and a new instance reads it back', () => {
    const first = open();
    first.noteIssued(SERIAL, ID, NOW + 60_000);
    // A file the operator left readable by others is replaced, not written through.
    writeFileSync(file(), '{"revoked":[]}\n', { mode: 0o644 });
    chmodSync(file(), 0o644);
    listed(first.revoke(SERIAL));
    assert.equal(statSync(file()).mode & 0o777, 0o600);
    clock.ms = NOW + 60_000;
    listed(first.revoke('7B'));
    assert.equal(statSync(file()).mode & 0o777, 0o600);
    assert.deepEqual(
      (JSON.parse(readFileSync(file(), 'utf8')) as { revoked: RevokedEntry[] }).revoked,
      first.entries(),
    );

    const second = open();
    assert.deepEqual(second.entries(), first.entries());
    assert.equal(second.has(SERIAL.toLowerCase()), true);
    // What expired while it was down is not listed.
    clock.ms = NOW + MAX_LEAF_LIFETIME_MS + ISSUE_BACKDATE_MS;
    assert.deepEqual(open().serials(), ['7B']);
  });

  it('refuses a revoked.json that is not a revocation list: CaError ERR_CA_FILE', () => {
    open();
    const entry = { serial: SERIAL, notAfterMs: NOW + 1, spiffeId: null, revokedAtMs: NOW };
    for (const text of [
      'not json',
      '[]',
      '{}',
      JSON.stringify({ revoked: [{ ...entry, notAfterMs: -1 }] }),
      JSON.stringify({ revoked: [{ ...entry, extra: true }] }),
      JSON.stringify({ revoked: [{ ...entry, serial: 'xyz' }] }),
      JSON.stringify({ revoked: [entry], other: 1 }),
    ]) {
      writeFileSync(file(), text, { mode: 0o600 });
      assert.throws(() => open(), caErrorWith('ERR_CA_FILE'), text);
    }
  });

  it('refuses a revocation past MAX_REVOKED_SERIALS live entries, until one expires', () => {
    const live = serials(MAX_REVOKED_SERIALS - 1);
    const entries = live.map((serial) => ({
      serial,
      notAfterMs: NOW + MAX_LEAF_LIFETIME_MS,
      spiffeId: null,
      revokedAtMs: NOW,
    }));
    // One more that expires first.
    entries.push({ serial: '7FFF', notAfterMs: NOW + 1_000, spiffeId: null, revokedAtMs: NOW });
    open();
    writeFileSync(file(), JSON.stringify({ revoked: entries }), { mode: 0o600 });
    const revocations = open();
    assert.equal(revocations.serials().length, MAX_REVOKED_SERIALS);
    let changes = 0;
    revocations.on('change', () => (changes += 1));

    assert.deepEqual(revocations.revoke(SERIAL), { ok: false, reason: 'list_full' });
    assert.equal(revocations.has(SERIAL), false);
    // A serial already listed is still answered.
    assert.equal(listed(revocations.revoke(live[0] ?? '')).entry.serial, live[0]);
    assert.equal(changes, 0);

    clock.ms = NOW + 1_000 + ISSUE_BACKDATE_MS;
    listed(revocations.revoke(SERIAL));
    assert.equal(revocations.has(SERIAL), true);
    assert.equal(revocations.serials().length, MAX_REVOKED_SERIALS);
    assert.equal(changes, 1);
  });

  it('refuses a revoked.json holding more live entries than a bundle carries', () => {
    open();
    const entries = serials(MAX_REVOKED_SERIALS + 1).map((serial) => ({
      serial,
      notAfterMs: NOW + MAX_LEAF_LIFETIME_MS,
      spiffeId: null,
      revokedAtMs: NOW,
    }));
    writeFileSync(file(), JSON.stringify({ revoked: entries }), { mode: 0o600 });
    assert.throws(() => open(), caErrorWith('ERR_CA_FILE'));
  });

  it('refuses a known revocation past MAX_REVOKED_IDENTITIES identity rules; an unknown serial still goes', () => {
    const revocations = open();
    for (const serial of serials(MAX_REVOKED_IDENTITIES + 1, '5')) {
      revocations.noteIssued(serial, ID, NOW + 60_000, serial.toLowerCase());
    }
    const [last = '', ...first] = serials(MAX_REVOKED_IDENTITIES + 1, '5').reverse();
    for (const serial of first) listed(revocations.revoke(serial));
    assert.equal(revocations.identities().length, MAX_REVOKED_IDENTITIES);
    assert.deepEqual(revocations.revoke(last), { ok: false, reason: 'list_full' });
    listed(revocations.revoke('7C'));
  });
});

describe('where revocations may be made', () => {
  it('not on the kubernetes registry: the opened CA says why and what to do instead; elsewhere nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revocations-where-'));
    try {
      const config = meshConfigSchema.parse({
        controlPlane: {
          trustDomain: 'mesh.test',
          registry: 'kubernetes',
          ca: { dir, leafLifetimeSec: 7200 },
          kubernetes: { caSecret: 'cams-ca' },
        },
      });
      // No Secret yet: the first replica creates it.
      const api: SecretApi = {
        readNamespacedSecret: () =>
          Promise.reject(new ApiException(404, 'HTTP 404', '{"kind":"Status"}', {})),
        createNamespacedSecret: ({ body }) => Promise.resolve(body),
      };
      const opened = await openMeshCaOnKubernetes(
        config,
        {},
        {
          api,
          namespace: 'media',
          log: createLogger('test', 'silent'),
        },
      );
      const why = opened.revocationsNotShared ?? assert.fail('revocations allowed on kubernetes');
      assert.match(why, /not shared between control plane replicas/);
      assert.match(why, /Secret media\/cams-ca/);
      assert.match(why, /leafLifetimeSec \(now 7200 s\)/);
      assert.ok(why.includes(dir), 'the state directory is not named');

      const onFiles = await openMeshCa(
        meshConfigSchema.parse({ controlPlane: { trustDomain: 'mesh.test', ca: { dir } } }),
        {},
      );
      assert.equal(onFiles.revocationsNotShared, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
