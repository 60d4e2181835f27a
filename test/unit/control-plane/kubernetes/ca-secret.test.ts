/**
 * The CA root kept in a Kubernetes Secret: the Secret's shape (type
 * kubernetes.io/tls, tls.crt, tls.key, bundle.pem) read back as the same
 * root; a Secret that lacks a key refused by name, never quoting the key;
 * loadOrCreateCaSecret's race: an existing Secret is used, a missing one is
 * created, and a create answered 409 (another replica won) uses the
 * winner's root. A CA opened from a Secret refuses rotation and says how.
 *
 * The API is a scripted stand-in here (the race cannot be timed against a
 * real server); test/integration/kubernetes/identity.test.ts runs two
 * control planes against a real API server.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { CaError, MeshCa } from '../../../../src/control-plane/ca/index.js';
import {
  CaSecretError,
  loadOrCreateCaSecret,
  type SecretApi,
} from '../../../../src/control-plane/kubernetes/index.js';
import { rootOfSecret, secretOfRoot } from '../../../../src/control-plane/kubernetes/ca-secret.js';
import { createLogger } from '../../../../src/shared/log.js';

const TRUST_DOMAIN = 'mesh.test';
const WHERE = 'Secret streammesh/streammesh-ca';
const log = createLogger('test', 'silent');

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** A Secret as the API answers it, or as it is sent. */
interface SecretData {
  readonly data?: Readonly<Record<string, string>>;
  readonly metadata?: { readonly name?: string };
}

/**
 * A Secret API answering from a script: each call takes the next answer for
 * its method (a Secret, or an HTTP status the call fails with).
 */
function scripted(script: {
  read: (SecretData | number)[];
  create?: (SecretData | number)[];
}): SecretApi & { created: SecretData[] } {
  const created: SecretData[] = [];
  const answer = (
    queue: (SecretData | number)[] | undefined,
    what: string,
  ): Promise<SecretData> => {
    const next = queue?.shift();
    if (next === undefined) throw new Error(`unexpected ${what}`);
    return typeof next === 'number'
      ? Promise.reject(new ApiException(next, `HTTP ${next}`, '{"kind":"Status"}', {}))
      : Promise.resolve(next);
  };
  return {
    created,
    readNamespacedSecret: () => answer(script.read, 'read'),
    createNamespacedSecret: ({ body }: { body: SecretData }) => {
      created.push(body);
      return answer(script.create, 'create');
    },
  };
}

describe('the CA Secret', () => {
  it('keeps a root as a kubernetes.io/tls Secret and reads back the same root', async () => {
    const root = await MeshCa.newRoot(TRUST_DOMAIN);
    const secret = secretOfRoot('streammesh-ca', root);
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['bundle.pem', 'tls.crt', 'tls.key']);
    const kept = rootOfSecret(secret, WHERE);
    assert.equal(kept.certificatePem, root.certificatePem);
    assert.equal(kept.keyPem, root.keyPem);
    assert.equal(kept.bundlePem, root.certificatePem);
    const ca = await MeshCa.fromPem({
      ...kept,
      trustDomain: TRUST_DOMAIN,
      where: WHERE,
      notRotatable: 'x',
    });
    assert.equal(fingerprint(ca.issuerCertificate()), fingerprint(root.certificatePem));
  });

  it('refuses a Secret without its certificate or key, naming the key and never quoting one', async () => {
    const root = await MeshCa.newRoot(TRUST_DOMAIN);
    const secret = secretOfRoot('streammesh-ca', root);
    const without = (key: string): Record<string, string> =>
      Object.fromEntries(Object.entries(secret.data ?? {}).filter(([name]) => name !== key));
    for (const missing of ['tls.crt', 'tls.key']) {
      assert.throws(
        () => rootOfSecret({ data: without(missing) }, WHERE),
        (error: unknown) => {
          assert.ok(error instanceof CaSecretError);
          assert.match(error.message, new RegExp(`${WHERE} has no ${missing.replace('.', '\\.')}`));
          assert.doesNotMatch(error.message, /PRIVATE KEY|BEGIN/);
          return true;
        },
      );
    }
    // No bundle.pem: the issuer alone is trusted.
    assert.equal(
      rootOfSecret({ data: without('bundle.pem') }, WHERE).bundlePem,
      root.certificatePem,
    );
  });

  it('refuses a key that does not belong to the certificate, without quoting it', async () => {
    const one = await MeshCa.newRoot(TRUST_DOMAIN);
    const other = await MeshCa.newRoot(TRUST_DOMAIN);
    await assert.rejects(
      MeshCa.fromPem({
        certificatePem: one.certificatePem,
        keyPem: other.keyPem,
        trustDomain: TRUST_DOMAIN,
        where: WHERE,
        notRotatable: 'x',
      }),
      (error: unknown) => {
        assert.ok(error instanceof CaError);
        assert.match(
          error.message,
          /Secret streammesh\/streammesh-ca: the private key does not belong/,
        );
        assert.ok(!error.message.includes(other.keyPem.split('\n')[1] ?? 'none'));
        return true;
      },
    );
  });

  it('uses the Secret there is, and creates one with a new root when there is none', async () => {
    const theirs = secretOfRoot('streammesh-ca', await MeshCa.newRoot(TRUST_DOMAIN));
    const existing = scripted({ read: [theirs] });
    const used = await loadOrCreateCaSecret({
      api: existing,
      namespace: 'streammesh',
      name: 'streammesh-ca',
      trustDomain: TRUST_DOMAIN,
      log,
    });
    assert.equal(used.created, false);
    assert.equal(used.certificatePem, rootOfSecret(theirs, WHERE).certificatePem);
    assert.equal(existing.created.length, 0);

    const empty = scripted({ read: [404], create: [{}] });
    const made = await loadOrCreateCaSecret({
      api: empty,
      namespace: 'streammesh',
      name: 'streammesh-ca',
      trustDomain: TRUST_DOMAIN,
      log,
    });
    assert.equal(made.created, true);
    const [body] = empty.created;
    assert.ok(body !== undefined);
    assert.equal(body.metadata?.name, 'streammesh-ca');
    assert.equal(rootOfSecret(body, WHERE).certificatePem, made.certificatePem);
  });

  it("takes the winner's root when another replica created the Secret first (409)", async () => {
    const winners = secretOfRoot('streammesh-ca', await MeshCa.newRoot(TRUST_DOMAIN));
    const racing = scripted({ read: [404, winners], create: [409] });
    const root = await loadOrCreateCaSecret({
      api: racing,
      namespace: 'streammesh',
      name: 'streammesh-ca',
      trustDomain: TRUST_DOMAIN,
      log,
    });
    assert.equal(root.created, false);
    assert.equal(
      fingerprint(root.certificatePem),
      fingerprint(rootOfSecret(winners, WHERE).certificatePem),
    );
    // It did make a root of its own and tried: that one is not what it uses.
    assert.equal(racing.created.length, 1);
    assert.notEqual(
      fingerprint(rootOfSecret(racing.created[0] ?? {}, WHERE).certificatePem),
      fingerprint(root.certificatePem),
    );
  });

  it('fails with the Secret named when the API refuses (403)', async () => {
    await assert.rejects(
      loadOrCreateCaSecret({
        api: scripted({ read: [403] }),
        namespace: 'streammesh',
        name: 'streammesh-ca',
        trustDomain: TRUST_DOMAIN,
        log,
      }),
      /could not read Secret streammesh\/streammesh-ca: HTTP 403/,
    );
  });

  it('refuses to rotate a root kept in a Secret, saying what to do instead', async () => {
    const root = await MeshCa.newRoot(TRUST_DOMAIN);
    const ca = await MeshCa.fromPem({
      ...root,
      trustDomain: TRUST_DOMAIN,
      where: WHERE,
      notRotatable: `the root kept in ${WHERE}: replace it there`,
    });
    await assert.rejects(ca.rotate(), (error: unknown) => {
      assert.ok(error instanceof CaError);
      assert.equal(error.code, 'ERR_CA_STATE');
      assert.match(
        error.message,
        /cannot rotate the root kept in Secret streammesh\/streammesh-ca/,
      );
      return true;
    });
    assert.throws(() => ca.retire(), /cannot retire the root kept in Secret/);
  });
});
