/**
 * The admin listener over mutual TLS (issue 17, point 6): a client
 * certificate of the mesh CA naming an operator identity stands for the
 * admin token on token-only routes; any other certificate, or none, does
 * not (401), while open routes (/metrics) stay open; the bearer token still
 * works over TLS. A certificate from another CA never verifies, and bytes
 * that are not TLS are dropped and counted. A renewed listener certificate
 * is used by new connections. openssl-made certificates naming the operator
 * (expired, another trust domain, self-signed, another CA) are never taken
 * for one.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TLSSocket } from 'node:tls';
import { Registry } from 'prom-client';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import { AdminCredentials, AdminServer } from '../../../src/shared/admin/index.js';
import {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  spiffeId,
  spiffeServerIdentityCheck,
  type WorkloadCertificates,
} from '../../../src/shared/identity/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken, bearer } from '../../helpers/admin-token.js';
import {
  TRUST_DOMAIN as MESH_TRUST_DOMAIN,
  issueWorkload,
  refusedClientCertificates,
  startTestCa,
  type TestCa,
} from '../../helpers/mesh-tls.js';

const TRUST_DOMAIN = 'streammesh.test';
const id = (serviceAccount: string): string =>
  spiffeId({ trustDomain: TRUST_DOMAIN, namespace: 'streammesh', serviceAccount });
const OPERATOR = id('operator');

async function certify(ca: MeshCa, spiffe: string): Promise<WorkloadCertificates> {
  const keys = await generateWorkloadKey();
  const issued = await ca.issue(await createCsr(keys, spiffe), { spiffeId: spiffe });
  return {
    spiffeId: spiffe,
    nodeId: undefined,
    privateKeyPem: privateKeyPem(keys),
    certificatePem: issued.certificatePem,
    chainPem: issued.chainPem,
    trustBundlePem: ca.trustBundle(),
    notAfterMs: issued.notAfter.getTime(),
  };
}

interface Answer {
  readonly status: number;
  readonly body: string;
  /** The listener certificate's serial the client saw. */
  readonly serverSerial: string;
}

function call(
  port: number,
  path: string,
  options: { client?: WorkloadCertificates; bundle: string; headers?: Record<string, string> },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: path === '/write' ? 'POST' : 'GET',
        ca: options.bundle,
        ...(options.client === undefined
          ? {}
          : {
              key: options.client.privateKeyPem,
              cert: options.client.certificatePem + options.client.chainPem,
            }),
        headers: options.headers ?? {},
        checkServerIdentity: spiffeServerIdentityCheck(
          TRUST_DOMAIN,
          (peer) => peer.spiffeId === id('control-plane'),
        ),
        agent: false,
        timeout: 5_000,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          const socket = response.socket;
          resolve({
            status: response.statusCode ?? 0,
            body,
            serverSerial:
              socket instanceof TLSSocket ? socket.getPeerCertificate().serialNumber : '',
          });
        });
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('admin listener over mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streammesh-admin-mtls-'));
  const token = newAdminToken();
  const metrics = new Registry();
  let ca: MeshCa;
  let otherCa: MeshCa;
  let admin: AdminServer;
  let port: number;
  let operator: WorkloadCertificates;
  let proxy: WorkloadCertificates;
  let foreignOperator: WorkloadCertificates;
  let writes = 0;

  before(async () => {
    ca = await MeshCa.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TRUST_DOMAIN });
    otherCa = await MeshCa.loadOrCreate({ dir: join(dir, 'other'), trustDomain: TRUST_DOMAIN });
    operator = await certify(ca, OPERATOR);
    proxy = await certify(ca, id('proxy'));
    foreignOperator = await certify(otherCa, OPERATOR);
    admin = new AdminServer({
      listen: { host: '127.0.0.1', port: 0 },
      metrics,
      log: createLogger('control-plane', 'silent'),
      readiness: () => ({ ready: true }),
      credentials: AdminCredentials.ofToken(token),
    });
    admin.route(
      'POST',
      '/write',
      () => {
        writes += 1;
        return { status: 200, body: { written: writes } };
      },
      { access: 'token' },
    );
    await admin.listen();
    ({ port } = await admin.listenMtls({
      listen: { host: '127.0.0.1', port: 0 },
      certificates: await certify(ca, id('control-plane')),
      trustDomain: TRUST_DOMAIN,
      operators: new Set([OPERATOR]),
    }));
  });

  after(async () => {
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes an operator certificate for the admin token', async () => {
    const answer = await call(port, '/write', { client: operator, bundle: ca.trustBundle() });
    assert.equal(answer.status, 200, answer.body);
    assert.equal(writes, 1);
  });

  it('refuses a write with another identity, with none, and with a foreign CA', async () => {
    const bundle = ca.trustBundle();
    assert.equal((await call(port, '/write', { client: proxy, bundle })).status, 401);
    assert.equal((await call(port, '/write', { bundle })).status, 401);
    // Same SPIFFE ID, another CA: the handshake does not verify it, so it is no operator.
    assert.equal((await call(port, '/write', { client: foreignOperator, bundle })).status, 401);
    assert.equal(writes, 1);
  });

  it('keeps the bearer token working, and open routes open', async () => {
    const bundle = ca.trustBundle();
    const withToken = await call(port, '/write', { bundle, headers: bearer(token) });
    assert.equal(withToken.status, 200);
    assert.equal(writes, 2);
    const scraped = await call(port, '/metrics', { bundle });
    assert.equal(scraped.status, 200);
    assert.match(scraped.body, /streammesh_admin_unauthorized_requests_total 3/);
  });

  it('drops bytes that are not TLS and counts them', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('GET /write HTTP/1.1\r\n\r\n'));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      socket.resume();
    });
    const scraped = await call(port, '/metrics', { bundle: ca.trustBundle() });
    assert.match(scraped.body, /streammesh_admin_tls_handshake_failures_total [1-9]/);
    assert.equal(writes, 2);
  });

  it('serves a renewed certificate to new connections', async () => {
    const before = await call(port, '/healthz', { bundle: ca.trustBundle() });
    const renewed = await certify(ca, id('control-plane'));
    admin.setCertificates(renewed);
    const afterRenewal = await call(port, '/healthz', { bundle: ca.trustBundle() });
    assert.notEqual(afterRenewal.serverSerial, before.serverSerial);
    const expected = new X509Certificate(renewed.certificatePem);
    assert.equal(afterRenewal.serverSerial, expected.serialNumber);
  });
});

describe('admin listener over mutual TLS: certificates it must refuse', () => {
  let testCa: TestCa;
  let admin: AdminServer;
  let port: number;
  let refused: ReturnType<typeof refusedClientCertificates>;
  const operatorId = spiffeId({
    trustDomain: MESH_TRUST_DOMAIN,
    namespace: 'streammesh',
    serviceAccount: 'operator',
  });
  let writes = 0;

  before(async () => {
    testCa = await startTestCa();
    // openssl-made, all naming the operator: expired, another trust domain,
    // self-signed, another CA's.
    refused = refusedClientCertificates(testCa.dir, testCa.rootFile, operatorId);
    admin = new AdminServer({
      listen: { host: '127.0.0.1', port: 0 },
      metrics: new Registry(),
      log: createLogger('control-plane', 'silent'),
      readiness: () => ({ ready: true }),
      credentials: AdminCredentials.ofToken(newAdminToken()),
    });
    admin.route('POST', '/write', () => ({ status: 200, body: { written: (writes += 1) } }), {
      access: 'token',
    });
    await admin.listen();
    ({ port } = await admin.listenMtls({
      listen: { host: '127.0.0.1', port: 0 },
      certificates: await issueWorkload(
        testCa.ca,
        spiffeId({
          trustDomain: MESH_TRUST_DOMAIN,
          namespace: 'streammesh',
          serviceAccount: 'control-plane',
        }),
      ),
      trustDomain: MESH_TRUST_DOMAIN,
      operators: new Set([operatorId]),
    }));
  });

  after(async () => {
    await admin.close();
    testCa.close();
  });

  it('takes none of them for an operator: expired, other trust domain, self-signed, other CA', async () => {
    for (const [kind, files] of Object.entries(refused)) {
      const answer = await new Promise<number>((resolve) => {
        const request = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/write',
            method: 'POST',
            ca: testCa.bundlePem,
            key: files.key,
            cert: files.cert,
            checkServerIdentity: () => undefined,
            agent: false,
            timeout: 5_000,
          },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        // A handshake the server ends is a refusal too.
        request.on('error', () => resolve(-1));
        request.end();
      });
      assert.ok(answer === 401 || answer === -1, `${kind}: ${answer}`);
    }
    assert.equal(writes, 0);
  });
});
