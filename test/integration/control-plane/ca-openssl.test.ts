/**
 * The mesh CA against OpenSSL (/usr/bin/openssl), a verifier that shares no
 * code with the one that wrote the certificates:
 *
 * - a leaf issued from a workload's CSR verifies against the trust bundle,
 *   and its subjectAltName is the SPIFFE ID URI;
 * - a leaf whose lifetime is over fails as expired; a leaf of another CA fails;
 * - after rotate(), leaves of both roots verify against the bundle; after
 *   retire(), only the new root's;
 * - the root is kept: a second loadOrCreate on the directory has the same
 *   root, the key file is 0600 in a 0700 directory, and a 0644 one is refused;
 * - an operator's root made by openssl (fromFiles) issues leaves that verify.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CaError, MeshCa, ROOT_FILE } from '../../../src/control-plane/ca/index.js';
import { BUNDLE_FILE } from '../../../src/shared/identity/index.js';
import { createCsr, generateWorkloadKey, spiffeId } from '../../../src/shared/identity/index.js';

const OPENSSL = '/usr/bin/openssl';
const TRUST_DOMAIN = 'streammesh.test';
const HOUR_MS = 3_600_000;
const users = spiffeId({
  trustDomain: TRUST_DOMAIN,
  namespace: 'default',
  serviceAccount: 'users',
});

let work: string;
let files = 0;

/** Writes text to a new file of the test's directory; returns its path. */
function file(text: string, name = `f${(files += 1)}.pem`): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

/** `openssl verify -CAfile bundle leaf`: whether it passed, and what it said. */
function verify(bundlePem: string, leafPem: string): { ok: boolean; output: string } {
  const result = spawnSync(OPENSSL, ['verify', '-CAfile', file(bundlePem), file(leafPem)], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

async function leafOf(ca: MeshCa, options: { lifetimeMs?: number } = {}): Promise<string> {
  const csr = await createCsr(await generateWorkloadKey(), users);
  return (await ca.issue(csr, { spiffeId: users, ...options })).certificatePem;
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'mesh-ca-openssl-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('a leaf issued by the mesh CA, checked by openssl', () => {
  let ca: MeshCa;
  before(async () => {
    ca = await MeshCa.loadOrCreate({ dir: join(work, 'ca'), trustDomain: TRUST_DOMAIN });
  });

  it('verifies against the trust bundle and names the SPIFFE ID as its URI SAN', async () => {
    const leaf = await leafOf(ca);
    const result = verify(ca.trustBundle(), leaf);
    assert.ok(result.ok, result.output);
    const san = execFileSync(
      OPENSSL,
      ['x509', '-noout', '-ext', 'subjectAltName', '-in', file(leaf)],
      {
        encoding: 'utf8',
      },
    );
    assert.match(san, /X509v3 Subject Alternative Name:/);
    assert.deepEqual(
      san
        .split('\n')
        .slice(1)
        .map((line) => line.trim())
        .filter((line) => line !== ''),
      [`URI:${users}`],
    );
  });

  it('fails as expired once its lifetime is over', async () => {
    // The CA's clock is two days behind: a one-hour leaf ended long ago.
    const past = await MeshCa.loadOrCreate({
      dir: join(work, 'ca-past'),
      trustDomain: TRUST_DOMAIN,
      clock: { now: () => Date.now() - 48 * HOUR_MS },
    });
    const leaf = await leafOf(past, { lifetimeMs: HOUR_MS });
    const result = verify(past.trustBundle(), leaf);
    assert.equal(result.ok, false, result.output);
    assert.match(result.output, /certificate has expired/);
    // The same CA's leaf of a lifetime still running verifies: expiry is what failed.
    const alive = verify(past.trustBundle(), await leafOf(past, { lifetimeMs: 72 * HOUR_MS }));
    assert.ok(alive.ok, alive.output);
  });

  it('of another CA fails against this bundle', async () => {
    const other = await MeshCa.loadOrCreate({
      dir: join(work, 'ca-other'),
      trustDomain: TRUST_DOMAIN,
    });
    const result = verify(ca.trustBundle(), await leafOf(other));
    assert.equal(result.ok, false, result.output);
    assert.match(result.output, /unable to get local issuer certificate/);
  });
});

describe('rotation', () => {
  it('trusts leaves of both roots after rotate(), only the new root after retire(), and persists each step', async () => {
    const dir = join(work, 'ca-rotate');
    const ca = await MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN });
    const oldRoot = ca.issuerCertificate();
    const oldLeaf = await leafOf(ca);

    await ca.rotate();
    assert.notEqual(ca.issuerCertificate(), oldRoot);
    const newLeaf = await leafOf(ca);
    for (const leaf of [oldLeaf, newLeaf]) {
      const result = verify(ca.trustBundle(), leaf);
      assert.ok(result.ok, result.output);
    }
    // Only the new root issues now: the new leaf fails against the old root alone.
    assert.equal(verify(oldRoot, newLeaf).ok, false);
    // A restart during the overlap has the new issuer and both roots.
    const restarted = await MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN });
    assert.equal(restarted.issuerCertificate(), ca.issuerCertificate());
    assert.equal(restarted.trustBundle(), ca.trustBundle());

    ca.retire();
    assert.equal(verify(ca.trustBundle(), oldLeaf).ok, false);
    const result = verify(ca.trustBundle(), newLeaf);
    assert.ok(result.ok, result.output);
    assert.equal(readFileSync(join(dir, BUNDLE_FILE), 'utf8'), ca.trustBundle());
    const afterRetire = await MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN });
    assert.equal(afterRetire.trustBundle(), ca.trustBundle());
    assert.equal(verify(afterRetire.trustBundle(), oldLeaf).ok, false);
  });
});

describe('persistence', () => {
  it('keeps the root: the same on the next start, key file 0600 in a 0700 directory', async () => {
    const dir = join(work, 'ca-persist');
    const first = await MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN });
    const second = await MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN });
    assert.equal(second.issuerCertificate(), first.issuerCertificate());
    assert.equal(statSync(join(dir, ROOT_FILE)).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    // The second start signs with the same key: its leaf verifies against the first start's bundle.
    const result = verify(first.trustBundle(), await leafOf(second));
    assert.ok(result.ok, result.output);
    // The root as openssl sees it.
    const text = execFileSync(OPENSSL, ['x509', '-noout', '-text', '-in', join(dir, ROOT_FILE)], {
      encoding: 'utf8',
    });
    assert.match(text, new RegExp(`Subject: O = streammesh, CN = streammesh root ${TRUST_DOMAIN}`));
    assert.match(text, /CA:TRUE, pathlen:0/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    assert.match(text, /ASN1 OID: prime256v1/);
  });

  it('refuses a key file others may read', async () => {
    const dir = join(work, 'ca-mode');
    await MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN });
    chmodSync(join(dir, ROOT_FILE), 0o644);
    await assert.rejects(
      MeshCa.loadOrCreate({ dir, trustDomain: TRUST_DOMAIN }),
      (error: unknown) =>
        error instanceof CaError &&
        error.code === 'ERR_CA_KEY_FILE_MODE' &&
        /0600/.test(error.message),
    );
  });
});

describe("an operator's root (fromFiles)", () => {
  it('issues leaves that verify against the operator root, and refuses a readable key', async () => {
    const keyFile = join(work, 'operator.key');
    const certFile = join(work, 'operator.crt');
    execFileSync(OPENSSL, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    execFileSync(OPENSSL, [
      'req',
      '-x509',
      '-new',
      '-key',
      keyFile,
      '-out',
      certFile,
      '-days',
      '30',
      '-subj',
      '/O=operator/CN=operator root',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(keyFile, 0o600);
    const ca = await MeshCa.fromFiles({ certFile, keyFile, trustDomain: TRUST_DOMAIN });
    const result = verify(readFileSync(certFile, 'utf8'), await leafOf(ca));
    assert.ok(result.ok, result.output);
    assert.throws(
      () => ca.retire(),
      (error: unknown) => error instanceof CaError && error.code === 'ERR_CA_STATE',
    );

    chmodSync(keyFile, 0o644);
    await assert.rejects(
      MeshCa.fromFiles({ certFile, keyFile, trustDomain: TRUST_DOMAIN }),
      (error: unknown) => error instanceof CaError && error.code === 'ERR_CA_KEY_FILE_MODE',
    );
  });
});
