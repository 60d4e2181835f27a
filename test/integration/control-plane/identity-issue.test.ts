/**
 * MeshIdentity.IssueCertificate on a real control plane (mutual TLS on its
 * gRPC port, its CA and bootstrap token in a temporary directory):
 *
 * - with the bootstrap token, a CSR gets a leaf that `openssl verify`
 *   accepts against the bundle, whose URI SAN is the ID asked for and
 *   whose subject CN is the node id;
 * - no token, or a wrong one: UNAUTHENTICATED; an ID of another trust
 *   domain, or the control plane's own: PERMISSION_DENIED; a CSR that is
 *   garbage or too large: INVALID_ARGUMENT;
 * - a renewal over mutual TLS (no token) for the certificate's own ID and
 *   node id works; for another ID or node id it is refused;
 * - every outcome is counted by reason or kind, and no refusal's message
 *   quotes the token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  CONTROL_PLANE_ID,
  certified,
  identityClient,
  issue,
  keyAndCsr,
  metric,
  openssl,
  proxyId,
  startSecurePlane,
  type SecurePlane,
} from './mtls-harness.js';

const REFUSED = 'streammesh_control_plane_certificates_refused_total';
const ISSUED = 'streammesh_control_plane_certificates_issued_total';

describe('IssueCertificate', () => {
  let secure: SecurePlane;

  before(async () => {
    secure = await startSecurePlane();
  });
  after(async () => {
    await secure.close();
  });

  /** Sends a request without a client certificate; returns the refusal, failing on success. */
  async function refusal(request: {
    csrPem: string;
    bootstrapToken: string;
    nodeId: string;
  }): Promise<grpc.ServiceError> {
    const client = identityClient(secure);
    try {
      const answer = await issue(client, request);
      assert.ok(!answer.ok, 'the request was granted');
      assert.doesNotMatch(answer.error.details, new RegExp(secure.bootstrapToken));
      return answer.error;
    } finally {
      client.close();
    }
  }

  it('issues, with the bootstrap token, a leaf openssl verifies, naming the ID (SAN) and the node (CN)', async () => {
    const before = await metric(secure, ISSUED, { kind: 'first' });
    const id = proxyId('users');
    const { certificatePem, response } = await certified(secure, id, 'proxy-a');
    assert.equal(response.spiffeId, id);
    assert.equal(response.trustBundlePem, secure.bundle);
    assert.ok(response.notAfterMs > Date.now());
    const leaf = secure.file(certificatePem);
    const verified = openssl(['verify', '-CAfile', secure.file(secure.bundle), leaf]);
    assert.ok(verified.ok, verified.output);
    const text = openssl(['x509', '-noout', '-subject', '-ext', 'subjectAltName', '-in', leaf]);
    assert.ok(text.ok, text.output);
    assert.match(text.output, /subject=.*CN\s*=\s*proxy-a/);
    const uris = [...text.output.matchAll(/URI:(\S+)/g)].map((match) => match[1]);
    assert.deepEqual(uris, [id]);
    assert.equal(await metric(secure, ISSUED, { kind: 'first' }), before + 1);
  });

  it('refuses a request with no token or a wrong one: UNAUTHENTICATED', async () => {
    const { csrPem } = await keyAndCsr(proxyId());
    const noToken = await metric(secure, REFUSED, { reason: 'no_token' });
    const badToken = await metric(secure, REFUSED, { reason: 'bad_token' });
    const missing = await refusal({ csrPem, bootstrapToken: '', nodeId: 'proxy-b' });
    assert.equal(missing.code, grpc.status.UNAUTHENTICATED);
    const wrong = await refusal({
      csrPem,
      bootstrapToken: `${secure.bootstrapToken.slice(0, -1)}x`,
      nodeId: 'proxy-b',
    });
    assert.equal(wrong.code, grpc.status.UNAUTHENTICATED);
    assert.equal(await metric(secure, REFUSED, { reason: 'no_token' }), noToken + 1);
    assert.equal(await metric(secure, REFUSED, { reason: 'bad_token' }), badToken + 1);
  });

  it("refuses another trust domain's ID and the control plane's own: PERMISSION_DENIED", async () => {
    const otherDomain = await metric(secure, REFUSED, { reason: 'other_trust_domain' });
    const reserved = await metric(secure, REFUSED, { reason: 'reserved_identity' });
    const foreign = await keyAndCsr(proxyId('users', 'elsewhere.test'));
    const refusedForeign = await refusal({
      csrPem: foreign.csrPem,
      bootstrapToken: secure.bootstrapToken,
      nodeId: 'proxy-c',
    });
    assert.equal(refusedForeign.code, grpc.status.PERMISSION_DENIED);
    const impostor = await keyAndCsr(CONTROL_PLANE_ID);
    const refusedImpostor = await refusal({
      csrPem: impostor.csrPem,
      bootstrapToken: secure.bootstrapToken,
      nodeId: '',
    });
    assert.equal(refusedImpostor.code, grpc.status.PERMISSION_DENIED);
    assert.equal(await metric(secure, REFUSED, { reason: 'other_trust_domain' }), otherDomain + 1);
    assert.equal(await metric(secure, REFUSED, { reason: 'reserved_identity' }), reserved + 1);
  });

  it('refuses a garbage CSR, an oversized one and a bad node id: INVALID_ARGUMENT', async () => {
    const badCsr = await metric(secure, REFUSED, { reason: 'bad_csr' });
    const tooLarge = await metric(secure, REFUSED, { reason: 'too_large' });
    const badNode = await metric(secure, REFUSED, { reason: 'bad_node_id' });
    const { csrPem } = await keyAndCsr(proxyId());
    const garbage =
      '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n';
    // A valid CSR with one byte of its signature changed: parses, does not verify.
    const body = csrPem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
    const der = Buffer.from(body.join(''), 'base64');
    der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0x01;
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    for (const bad of [garbage, forged, 'x'.repeat(17 * 1024)]) {
      const error = await refusal({
        csrPem: bad,
        bootstrapToken: secure.bootstrapToken,
        nodeId: 'proxy-d',
      });
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, error.details);
    }
    const error = await refusal({
      csrPem,
      bootstrapToken: secure.bootstrapToken,
      nodeId: 'Not A Label',
    });
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(await metric(secure, REFUSED, { reason: 'bad_csr' }), badCsr + 2);
    assert.equal(await metric(secure, REFUSED, { reason: 'too_large' }), tooLarge + 1);
    assert.equal(await metric(secure, REFUSED, { reason: 'bad_node_id' }), badNode + 1);
  });

  it('renews over mutual TLS for the same ID and node id only', async () => {
    const id = proxyId('billing');
    const current = await certified(secure, id, 'proxy-e');
    const renewals = await metric(secure, ISSUED, { kind: 'renewal' });
    const otherIdentity = await metric(secure, REFUSED, { reason: 'other_identity' });
    const client = identityClient(secure, current);
    try {
      const same = await keyAndCsr(id);
      const renewed = await issue(client, {
        csrPem: same.csrPem,
        bootstrapToken: '',
        nodeId: 'proxy-e',
      });
      assert.ok(renewed.ok, renewed.ok ? '' : renewed.error.details);
      assert.equal(renewed.value.spiffeId, id);
      assert.notEqual(renewed.value.certificatePem, current.certificatePem);
      const verified = openssl([
        'verify',
        '-CAfile',
        secure.file(secure.bundle),
        secure.file(renewed.value.certificatePem),
      ]);
      assert.ok(verified.ok, verified.output);

      const other = await keyAndCsr(proxyId('users'));
      const asOther = await issue(client, {
        csrPem: other.csrPem,
        bootstrapToken: '',
        nodeId: 'proxy-e',
      });
      assert.ok(!asOther.ok);
      assert.equal(asOther.error.code, grpc.status.PERMISSION_DENIED);
      const asOtherNode = await issue(client, {
        csrPem: same.csrPem,
        bootstrapToken: '',
        nodeId: 'proxy-f',
      });
      assert.ok(!asOtherNode.ok);
      assert.equal(asOtherNode.error.code, grpc.status.PERMISSION_DENIED);
    } finally {
      client.close();
    }
    assert.equal(await metric(secure, ISSUED, { kind: 'renewal' }), renewals + 1);
    assert.equal(await metric(secure, REFUSED, { reason: 'other_identity' }), otherIdentity + 2);
  });
});
