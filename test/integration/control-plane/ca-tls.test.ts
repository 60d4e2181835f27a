/**
 * One real mutual TLS handshake with certificates of the mesh CA: a
 * node:tls server on 127.0.0.1 (port 0) with one workload's leaf, a client
 * with another's, each verifying the other against the trust bundle
 * (requestCert + rejectUnauthorized on both ends), and each reading the
 * peer's SPIFFE ID from its certificate's URI SAN. A client whose leaf comes
 * from another CA is refused by the server.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  spiffeId,
} from '../../../src/shared/identity/index.js';

const TRUST_DOMAIN = 'streammesh.test';
const HANDSHAKE_TIMEOUT_MS = 5_000;
const frontend = spiffeId({
  trustDomain: TRUST_DOMAIN,
  namespace: 'web',
  serviceAccount: 'frontend',
});
const usersId = spiffeId({
  trustDomain: TRUST_DOMAIN,
  namespace: 'default',
  serviceAccount: 'users',
});

interface Workload {
  readonly key: string;
  readonly cert: string;
}

async function workload(ca: MeshCa, id: string): Promise<Workload> {
  const keys = await generateWorkloadKey();
  const issued = await ca.issue(await createCsr(keys, id), { spiffeId: id });
  return { key: privateKeyPem(keys), cert: issued.certificatePem };
}

/** The URI SAN of the peer's certificate, as node reports it. */
function peerId(socket: TLSSocket): string | undefined {
  return socket.getPeerCertificate().subjectaltname;
}

describe('mutual TLS with mesh CA certificates', () => {
  let dir: string;
  let ca: MeshCa;
  let server: Server;
  let port: number;
  const serverSaw: (string | undefined)[] = [];
  const serverErrors: Error[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-ca-tls-'));
    ca = await MeshCa.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TRUST_DOMAIN });
    const users = await workload(ca, usersId);
    server = createServer(
      {
        ...users,
        ca: ca.trustBundle(),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      },
      (socket) => {
        serverSaw.push(peerId(socket));
        socket.end('hello');
      },
    );
    server.on('tlsClientError', (error) => serverErrors.push(error));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    port = address.port;
  });

  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function dial(client: Workload): TLSSocket {
    return connect({
      host: '127.0.0.1',
      port,
      ...client,
      ca: ca.trustBundle(),
      rejectUnauthorized: true,
      // The identity checked is the SPIFFE ID below, not a host name.
      checkServerIdentity: () => undefined,
      timeout: HANDSHAKE_TIMEOUT_MS,
    });
  }

  it('each side verifies the other and reads its SPIFFE ID', async () => {
    const socket = dial(await workload(ca, frontend));
    await once(socket, 'secureConnect');
    assert.equal(socket.authorized, true, String(socket.authorizationError));
    assert.equal(peerId(socket), `URI:${usersId}`);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    socket.destroy();
    assert.equal(Buffer.concat(chunks).toString(), 'hello');
    assert.deepEqual(serverSaw, [`URI:${frontend}`]);
  });

  it('refuses a client whose certificate another CA issued', async () => {
    const other = await MeshCa.loadOrCreate({ dir: join(dir, 'other'), trustDomain: TRUST_DOMAIN });
    const served = serverSaw.length;
    const errors = serverErrors.length;
    const socket = dial(await workload(other, frontend));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
    // TLS 1.3: the client finishes its side first; the server then refuses and closes.
    await once(socket, 'close');
    assert.equal(Buffer.concat(received).toString(), '', 'the foreign client got no data');
    assert.equal(serverSaw.length, served, 'the server never served the foreign client');
    // The server's report of the refused handshake may follow the client's close by a moment.
    for (let i = 0; i < 100 && serverErrors.length === errors; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(serverErrors.length, errors + 1);
  });
});
