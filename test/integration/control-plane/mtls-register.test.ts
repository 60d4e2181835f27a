/**
 * MeshControl behind mutual TLS (controlPlane.mtls) on a real control plane:
 *
 * - a client with no certificate can neither Register nor open a resource
 *   stream (UNAUTHENTICATED), so it never gets an update, let alone a key;
 * - a certificate of node "a" cannot register, nor say Hello, as "b"
 *   (PERMISSION_DENIED);
 * - with its own certificate a node registers, gets its first update, and
 *   GET /nodes shows the SPIFFE ID it registered with;
 * - client certificates made by openssl that are expired (signed by the
 *   mesh root), of another trust domain (signed by the mesh root),
 *   self-signed, or signed by another CA are all refused;
 * - `openssl s_client` on the gRPC port sees the control plane's
 *   certificate chain verify against the trust bundle, naming its SPIFFE ID;
 * - every refusal is counted by reason.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MeshControlClient, ResourceUpdate } from '../../../src/protocol/mesh/index.js';
import { getJson } from '../../helpers/http.js';
import {
  CONTROL_PLANE_ID,
  certified,
  controlClient,
  metric,
  openssl,
  opensslAsync,
  proxyId,
  register,
  startSecurePlane,
  TRUST_DOMAIN,
  type ClientCertificate,
  type SecurePlane,
} from './mtls-harness.js';

const REGISTER_REFUSED = 'streammesh_control_plane_register_refused_total';
const STREAM_REFUSED = 'streammesh_control_plane_refused_streams_total';

/** Opens a stream with a Hello as `id`: its first update, or the error that ended it. */
function hello(
  client: MeshControlClient,
  id: string,
): Promise<{ update: ResourceUpdate } | { error: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const stream = client.streamResources({ deadline: Date.now() + 5_000 });
    stream.on('data', (update: ResourceUpdate) => {
      resolve({ update });
      stream.cancel();
    });
    stream.on('error', (error: grpc.ServiceError) => resolve({ error }));
    stream.write({ hello: { id, systemVersion: '', resources: [], placements: [] } });
  });
}

describe('MeshControl with mutual TLS', () => {
  let secure: SecurePlane;
  let nodeA: ClientCertificate;

  before(async () => {
    secure = await startSecurePlane();
    nodeA = await certified(secure, proxyId(), 'proxy-a');
  });
  after(async () => {
    await secure.close();
  });

  it('refuses Register and the stream to a client with no certificate', async () => {
    const registers = await metric(secure, REGISTER_REFUSED, { reason: 'no_certificate' });
    const streams = await metric(secure, STREAM_REFUSED, { reason: 'no_certificate' });
    const client = controlClient(secure);
    try {
      const error = await register(client, 'proxy-a');
      assert.equal(error?.code, grpc.status.UNAUTHENTICATED);
      const answer = await hello(client, 'proxy-a');
      assert.ok('error' in answer, 'a client with no certificate got an update');
      assert.equal(answer.error.code, grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
    }
    assert.equal(
      await metric(secure, REGISTER_REFUSED, { reason: 'no_certificate' }),
      registers + 1,
    );
    assert.equal(await metric(secure, STREAM_REFUSED, { reason: 'no_certificate' }), streams + 1);
  });

  it('registers a node with its own certificate, sends its first update, and shows its SPIFFE ID', async () => {
    const client = controlClient(secure, nodeA);
    try {
      assert.equal(await register(client, 'proxy-a'), null);
      const answer = await hello(client, 'proxy-a');
      assert.ok('update' in answer, 'error' in answer ? answer.error.details : '');
      assert.ok(answer.update.resources.length > 0);
    } finally {
      client.close();
    }
    const nodes = await getJson<{ nodes: { id: string; spiffeId: string | null }[] }>(
      `${secure.adminUrl}/nodes`,
    );
    assert.equal(nodes.body.nodes.find((node) => node.id === 'proxy-a')?.spiffeId, proxyId());
  });

  it("refuses node a's certificate registering or saying Hello as b", async () => {
    const registers = await metric(secure, REGISTER_REFUSED, { reason: 'other_node' });
    const streams = await metric(secure, STREAM_REFUSED, { reason: 'other_node' });
    const nodeB = await certified(secure, proxyId(), 'proxy-b');
    const asB = controlClient(secure, nodeB);
    const asA = controlClient(secure, nodeA);
    try {
      assert.equal(await register(asB, 'proxy-b'), null);
      assert.equal((await register(asA, 'proxy-b'))?.code, grpc.status.PERMISSION_DENIED);
      const answer = await hello(asA, 'proxy-b');
      assert.ok('error' in answer, "a's certificate got b's update");
      assert.equal(answer.error.code, grpc.status.PERMISSION_DENIED);
    } finally {
      asA.close();
      asB.close();
    }
    assert.equal(await metric(secure, REGISTER_REFUSED, { reason: 'other_node' }), registers + 1);
    assert.equal(await metric(secure, STREAM_REFUSED, { reason: 'other_node' }), streams + 1);
  });

  describe('client certificates made by openssl', () => {
    const meshSan = `URI:${proxyId()}`;
    let root: string;

    before(() => {
      root = join(secure.dir, 'ca', 'root.pem'); // the mesh root: certificate and key
    });

    /** A new P-256 key and a CSR for CN=proxy-x, as files. */
    function keyAndCsr(name: string): { key: string; csr: string } {
      const key = join(secure.dir, `${name}.key`);
      const csr = join(secure.dir, `${name}.csr`);
      const made = openssl([
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-subj',
        '/CN=proxy-x',
        '-out',
        csr,
      ]);
      assert.ok(made.ok, made.output);
      return { key, csr };
    }

    /** A leaf for CN=proxy-x with `san`, signed by `caCert`/`caKey`, valid `days` (negative: expired). */
    function signed(name: string, caCert: string, caKey: string, san: string, days: number) {
      const { key, csr } = keyAndCsr(name);
      const extensions = secure.file(
        `subjectAltName=${san}\nextendedKeyUsage=clientAuth,serverAuth\nbasicConstraints=CA:FALSE\n`,
        `${name}.ext`,
      );
      const cert = join(secure.dir, `${name}.pem`);
      const made = openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-days',
        String(days),
        '-set_serial',
        String(Date.now()),
        '-extfile',
        extensions,
        '-out',
        cert,
      ]);
      assert.ok(made.ok, made.output);
      return { key, cert };
    }

    async function refusedAsProxyX(files: { key: string; cert: string }, why: string) {
      const { readFileSync } = await import('node:fs');
      const client = controlClient(secure, {
        keyPem: readFileSync(files.key, 'utf8'),
        certificatePem: readFileSync(files.cert, 'utf8'),
      });
      try {
        const error = await register(client, 'proxy-x');
        assert.ok(error !== null, `${why}: registered`);
        assert.equal(error.code, grpc.status.UNAUTHENTICATED, `${why}: ${error.details}`);
        const answer = await hello(client, 'proxy-x');
        assert.ok('error' in answer, `${why}: got an update`);
      } finally {
        client.close();
      }
    }

    it('the control: a leaf openssl signs with the mesh root for proxy-x registers', async () => {
      const { readFileSync } = await import('node:fs');
      const files = signed('good', root, root, meshSan, 1);
      const client = controlClient(secure, {
        keyPem: readFileSync(files.key, 'utf8'),
        certificatePem: readFileSync(files.cert, 'utf8'),
      });
      try {
        assert.equal(await register(client, 'proxy-x'), null);
      } finally {
        client.close();
      }
    });

    it('refuses an expired leaf of the mesh root', async () => {
      await refusedAsProxyX(signed('expired', root, root, meshSan, -1), 'expired');
    });

    it('refuses a leaf of the mesh root naming another trust domain', async () => {
      const foreign = `URI:${proxyId('streammesh-proxy', 'elsewhere.test')}`;
      await refusedAsProxyX(signed('foreign', root, root, foreign, 1), 'other trust domain');
    });

    it('refuses a self-signed certificate', async () => {
      const key = join(secure.dir, 'self.key');
      const cert = join(secure.dir, 'self.pem');
      const made = openssl([
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=proxy-x',
        '-addext',
        `subjectAltName=${meshSan}`,
      ]);
      assert.ok(made.ok, made.output);
      await refusedAsProxyX({ key, cert }, 'self-signed');
    });

    it('refuses a leaf of another CA', async () => {
      const key = join(secure.dir, 'other-ca.key');
      const cert = join(secure.dir, 'other-ca.pem');
      const made = openssl([
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        `/O=streammesh/CN=streammesh root ${TRUST_DOMAIN}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign',
      ]);
      assert.ok(made.ok, made.output);
      await refusedAsProxyX(signed('of-other-ca', cert, key, meshSan, 1), 'another CA');
    });
  });

  it("openssl s_client sees the control plane's chain verify against the bundle", async () => {
    const connected = await opensslAsync([
      's_client',
      '-connect',
      `127.0.0.1:${secure.plane.grpc.port}`,
      '-alpn',
      'h2',
      '-CAfile',
      secure.file(secure.bundle),
      '-verify_return_error',
      '-showcerts',
    ]);
    assert.ok(connected.ok, connected.output);
    assert.match(connected.output, /Verify return code: 0 \(ok\)/);
    const leaf = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(
      connected.output,
    )?.[0];
    assert.ok(leaf !== undefined, connected.output);
    const san = openssl([
      'x509',
      '-noout',
      '-ext',
      'subjectAltName',
      '-in',
      secure.file(`${leaf}\n`),
    ]);
    assert.deepEqual(
      [...san.output.matchAll(/URI:(\S+)/g)].map((match) => match[1]),
      [CONTROL_PLANE_ID],
    );
  });
});
