/**
 * Revocation at the control plane (issue 17), against a real control plane
 * with mutual TLS:
 *
 * - a node's open resource stream is ended (UNAUTHENTICATED) once
 *   `POST /certificates/<serial>/revoke` names its certificate, by the
 *   serial GET /ca shows or by openssl's colon form; the same certificate
 *   then can neither Register, nor say Hello, nor renew; each refusal is
 *   counted with reason "revoked", and a node with its own certificate
 *   keeps its stream (it is pushed the new list) and registers again;
 * - GET /certificates/revoked shows whose certificate it was and that it
 *   stays listed until the certificate expires; the route wants the admin
 *   token and a serial, and takes a serial it never issued (known: false);
 * - on the mutual-TLS admin listener a revoked operator certificate stands
 *   for nothing (401), counted;
 * - `streammesh cert revoke` (the real command) revokes and prints one line;
 *   without the admin token it says so and exits 2;
 * - the list survives a restart on the same CA directory.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { MeshControlClient, ResourceUpdate } from '../../../src/protocol/mesh/index.js';
import { formatHostPort } from '../../../src/shared/address.js';
import { getJson } from '../../helpers/http.js';
import { runStreammesh } from '../../helpers/process.js';
import {
  TRUST_DOMAIN,
  adminMtlsCall,
  certified,
  controlClient,
  identityClient,
  issue,
  keyAndCsr,
  metric,
  openssl,
  proxyId,
  register,
  startSecurePlane,
  type ClientCertificate,
  type SecurePlane,
} from './mtls-harness.js';

const REGISTER_REFUSED = 'streammesh_control_plane_register_refused_total';
const STREAM_REFUSED = 'streammesh_control_plane_refused_streams_total';
const CERTIFICATES_REFUSED = 'streammesh_control_plane_certificates_refused_total';
const ADMIN_REVOKED = 'streammesh_admin_revoked_certificate_requests_total';
const OPERATOR_ID = `spiffe://${TRUST_DOMAIN}/ns/streammesh/sa/operator`;
const LEAF_LIFETIME_SEC = 3_600;

interface RevokeAnswer {
  readonly serial: string;
  readonly spiffeId: string | null;
  readonly revokedAt: string;
  readonly until: string;
  readonly known: boolean;
  readonly error?: string;
}

interface CaNodes {
  readonly nodes: readonly {
    readonly id: string;
    readonly certificate: { readonly serialNumber: string } | null;
  }[];
}

/**
 * A resource stream held open as a node holds it: Hello, an ACK for every
 * update, heartbeats. `ended` settles with the status that ends it.
 */
interface OpenStream {
  readonly updates: ResourceUpdate[];
  /** The first update (the stream is up), or the error that ended it first. */
  readonly first: Promise<ResourceUpdate | grpc.ServiceError>;
  readonly ended: Promise<grpc.ServiceError>;
  /** Resolves with the first update received after this call that `wanted` accepts. */
  next(wanted: (update: ResourceUpdate) => boolean): Promise<ResourceUpdate>;
  close(): void;
}

function openStream(client: MeshControlClient, id: string): OpenStream {
  const stream = client.streamResources();
  const updates: ResourceUpdate[] = [];
  const waiting: {
    wanted: (update: ResourceUpdate) => boolean;
    resolve: (u: ResourceUpdate) => void;
  }[] = [];
  let resolveFirst!: (value: ResourceUpdate | grpc.ServiceError) => void;
  const first = new Promise<ResourceUpdate | grpc.ServiceError>(
    (resolve) => (resolveFirst = resolve),
  );
  const ended = new Promise<grpc.ServiceError>((resolve) => {
    stream.on('error', (error: grpc.ServiceError) => {
      resolveFirst(error);
      resolve(error);
    });
  });
  stream.on('data', (update: ResourceUpdate) => {
    updates.push(update);
    resolveFirst(update);
    for (const waiter of [...waiting]) {
      if (!waiter.wanted(update)) continue;
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(update);
    }
    stream.write({
      ack: {
        nonce: update.nonce,
        systemVersion: update.systemVersion,
        applied: update.resources.map(({ type, name, version }) => ({ type, name, version })),
      },
    });
  });
  const heartbeat = setInterval(() => {
    stream.write({ heartbeat: { sentAtMs: Date.now() } });
  }, 500);
  void ended.finally(() => clearInterval(heartbeat));
  stream.write({ hello: { id, systemVersion: '', resources: [], placements: [] } });
  return {
    updates,
    first,
    ended,
    next: (wanted) => new Promise((resolve) => waiting.push({ wanted, resolve })),
    close() {
      clearInterval(heartbeat);
      stream.cancel();
    },
  };
}

/** A short-lived stream's answer to Hello: its first update, or the error that ended it. */
async function hello(
  client: MeshControlClient,
  id: string,
): Promise<ResourceUpdate | grpc.ServiceError> {
  const stream = openStream(client, id);
  try {
    return await within(stream.first, 5_000, `${id}'s hello was never answered`);
  } finally {
    stream.close();
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (within ${ms} ms)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function isError(answer: ResourceUpdate | grpc.ServiceError): answer is grpc.ServiceError {
  return 'code' in answer;
}

/** The serials of the TRUST_BUNDLE in `update`, undefined when it carries none. */
function revokedIn(update: ResourceUpdate): readonly string[] | undefined {
  const bundle = update.resources.find((resource) => resource.type === 'TRUST_BUNDLE');
  if (bundle === undefined) return undefined;
  const body = JSON.parse(bundle.bodyJson) as { revoked?: string[] };
  return body.revoked ?? [];
}

async function revoke(
  secure: SecurePlane,
  serial: string,
  token: string | null = secure.adminToken(),
): Promise<{ status: number; body: RevokeAnswer }> {
  const response = await fetch(
    `${secure.adminUrl}/certificates/${encodeURIComponent(serial)}/revoke`,
    {
      method: 'POST',
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      body: '{}',
    },
  );
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: text };
  }
  return { status: response.status, body: body as RevokeAnswer };
}

async function caSerialOf(secure: SecurePlane, node: string): Promise<string> {
  const ca = await getJson<CaNodes>(`${secure.adminUrl}/ca`);
  const serial = ca.body.nodes.find((entry) => entry.id === node)?.certificate?.serialNumber;
  assert.ok(serial !== undefined, `GET /ca shows no certificate for ${node}`);
  return serial;
}

/** A node certified with the bootstrap token, registered, its stream open and answered. */
async function connectedNode(
  secure: SecurePlane,
  id: string,
): Promise<{ certificate: ClientCertificate; client: MeshControlClient; stream: OpenStream }> {
  const certificate = await certified(secure, proxyId(), id);
  const client = controlClient(secure, certificate);
  assert.equal(await register(client, id), null);
  const stream = openStream(client, id);
  const first = await within(stream.first, 5_000, `${id}'s stream was never answered`);
  assert.ok(!isError(first), isError(first) ? first.details : '');
  return { certificate, client, stream };
}

/** What a certificate revoked on `secure` may no longer do: register, say Hello, renew. */
async function assertCutOff(
  secure: SecurePlane,
  certificate: ClientCertificate,
  id: string,
): Promise<void> {
  const client = controlClient(secure, certificate);
  try {
    const registered = await register(client, id);
    assert.equal(registered?.code, grpc.status.UNAUTHENTICATED, `${id} registered`);
    const answer = await hello(client, id);
    assert.ok(isError(answer), `${id} said Hello and got an update`);
    assert.equal(answer.code, grpc.status.UNAUTHENTICATED);
  } finally {
    client.close();
  }
  const identity = identityClient(secure, certificate);
  try {
    const { csrPem } = await keyAndCsr(proxyId());
    const renewed = await issue(identity, { csrPem, bootstrapToken: '', nodeId: id });
    assert.ok(!renewed.ok, `${id} renewed a revoked certificate`);
    assert.equal(renewed.error.code, grpc.status.UNAUTHENTICATED);
  } finally {
    identity.close();
  }
}

async function revokedCounts(secure: SecurePlane): Promise<readonly number[]> {
  return [
    await metric(secure, REGISTER_REFUSED, { reason: 'revoked' }),
    await metric(secure, STREAM_REFUSED, { reason: 'revoked' }),
    await metric(secure, CERTIFICATES_REFUSED, { reason: 'revoked' }),
  ];
}

describe('certificate revocation at the control plane', () => {
  let secure: SecurePlane;
  let nodeA: Awaited<ReturnType<typeof connectedNode>>;
  let nodeB: Awaited<ReturnType<typeof connectedNode>>;

  before(async () => {
    secure = await startSecurePlane({ adminMtls: true, leafLifetimeSec: LEAF_LIFETIME_SEC });
    nodeA = await connectedNode(secure, 'proxy-a');
    nodeB = await connectedNode(secure, 'proxy-b');
  });

  after(async () => {
    for (const node of [nodeA, nodeB]) {
      node.stream.close();
      node.client.close();
    }
    await secure.close();
  });

  it("ends a revoked node's stream and refuses its Register, Hello and renewal; another node stays", async () => {
    const serial = await caSerialOf(secure, 'proxy-a');
    assert.equal(serial, new X509Certificate(nodeA.certificate.certificatePem).serialNumber);
    const [registers = 0, streams = 0, renewals = 0] = await revokedCounts(secure);
    const pushedToB = nodeB.stream.next((update) => revokedIn(update)?.includes(serial) === true);

    const revoked = await revoke(secure, serial);
    assert.equal(revoked.status, 200, revoked.body.error);
    assert.deepEqual(
      { serial: revoked.body.serial, spiffeId: revoked.body.spiffeId, known: revoked.body.known },
      { serial, spiffeId: proxyId(), known: true },
    );
    const ended = await within(nodeA.stream.ended, 5_000, "proxy-a's stream was not ended");
    assert.equal(ended.code, grpc.status.UNAUTHENTICATED, ended.details);

    await assertCutOff(secure, nodeA.certificate, 'proxy-a');
    // The ended stream and the refused Hello.
    assert.deepEqual(await revokedCounts(secure), [registers + 1, streams + 2, renewals + 1]);

    // proxy-b keeps its stream, which is pushed the list, and registers again.
    await within(pushedToB, 5_000, 'proxy-b was not pushed the revoked serial');
    assert.equal(await register(nodeB.client, 'proxy-b'), null);
    const stillOpen = await Promise.race([
      nodeB.stream.ended,
      new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 300)),
    ]);
    assert.equal(stillOpen, 'open');
  });

  it("takes openssl's colon form of a serial", async () => {
    const nodeC = await connectedNode(secure, 'proxy-c');
    try {
      const text = openssl([
        'x509',
        '-noout',
        '-text',
        '-in',
        secure.file(nodeC.certificate.certificatePem),
      ]);
      assert.ok(text.ok, text.output);
      const colons = /Serial Number:\s*\n\s*([0-9a-f]{2}(?::[0-9a-f]{2})+)\s*\n/.exec(
        text.output,
      )?.[1];
      assert.ok(colons !== undefined, text.output);
      const revoked = await revoke(secure, colons);
      assert.equal(revoked.status, 200, revoked.body.error);
      assert.equal(revoked.body.serial, await caSerialOf(secure, 'proxy-c'));
      assert.equal(revoked.body.known, true);
      const ended = await within(nodeC.stream.ended, 5_000, "proxy-c's stream was not ended");
      assert.equal(ended.code, grpc.status.UNAUTHENTICATED);
      await assertCutOff(secure, nodeC.certificate, 'proxy-c');
    } finally {
      nodeC.stream.close();
      nodeC.client.close();
    }
  });

  it('revokes the renewal a stolen key made before the revocation; a new bootstrap gets the node back', async () => {
    const nodeD = await connectedNode(secure, 'proxy-d');
    nodeD.stream.close();
    nodeD.client.close();
    // The thief renews with the stolen certificate first: a fresh key and serial.
    const { keyPem, csrPem } = await keyAndCsr(proxyId());
    const identity = identityClient(secure, nodeD.certificate);
    const renewed = await issue(identity, { csrPem, bootstrapToken: '', nodeId: 'proxy-d' });
    identity.close();
    assert.ok(renewed.ok, renewed.ok ? '' : renewed.error.details);
    const stolen = { keyPem, certificatePem: renewed.value.certificatePem };
    // Later (certificates say when they were issued to the second), the
    // operator revokes the serial they know of: the first one.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const first = new X509Certificate(nodeD.certificate.certificatePem).serialNumber;
    const revoked = await revoke(secure, first);
    assert.equal(revoked.status, 200, revoked.body.error);
    await assertCutOff(secure, nodeD.certificate, 'proxy-d');
    // The renewal is of the same identity and node, issued before: cut off too.
    await assertCutOff(secure, stolen, 'proxy-d');
    // The node bootstraps again (a new key, a certificate issued after the revocation) and is back.
    const back = await connectedNode(secure, 'proxy-d');
    back.stream.close();
    back.client.close();
  });

  it("refuses to revoke the control plane's own certificate (409: rotate the CA instead)", async () => {
    const own = await new Promise<string>((resolve, reject) => {
      const [host = '', port = ''] = secure.target.split(/:(?=\d+$)/);
      const socket = tlsConnect(
        {
          host,
          port: Number(port),
          rejectUnauthorized: false,
          ALPNProtocols: ['h2'],
          servername: 'control-plane.streammesh',
        },
        () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.destroy();
        },
      );
      socket.once('error', reject);
    });
    const refused = await revoke(secure, own);
    assert.equal(refused.status, 409, refused.body.error);
    assert.match(refused.body.error ?? '', /rotate the CA/);
    const list = await getJson<{ revoked: { serial: string }[] }>(
      `${secure.adminUrl}/certificates/revoked`,
    );
    assert.ok(!list.body.revoked.some((entry) => entry.serial === own));
  });

  it('lists an entry until its certificate expires, and checks who asks and what', async () => {
    const certificate = new X509Certificate(nodeA.certificate.certificatePem);
    const list = await getJson<{ revoked: Omit<RevokeAnswer, 'known'>[] }>(
      `${secure.adminUrl}/certificates/revoked`,
    );
    const entry = list.body.revoked.find((listed) => listed.serial === certificate.serialNumber);
    assert.ok(entry !== undefined, JSON.stringify(list.body));
    assert.equal(entry.spiffeId, proxyId());
    assert.equal(entry.until, new Date(certificate.validTo).toISOString());

    const serial = randomBytes(16).toString('hex').replace(/^./, '5');
    assert.equal((await revoke(secure, serial, null)).status, 401);
    assert.equal((await revoke(secure, serial, 'not-the-token')).status, 401);
    assert.equal((await revoke(secure, 'xyz')).status, 400);
    assert.equal((await revoke(secure, 'a'.repeat(41))).status, 400);

    const before = Date.now();
    const unknown = await revoke(secure, serial);
    assert.equal(unknown.status, 200, unknown.body.error);
    assert.equal(unknown.body.known, false);
    assert.equal(unknown.body.spiffeId, null);
    assert.equal(unknown.body.serial, serial.toUpperCase());
    // Kept for the longest lifetime a leaf gets, which outlasts any it names.
    const until = Date.parse(unknown.body.until);
    assert.ok(until >= before + LEAF_LIFETIME_SEC * 1000, unknown.body.until);
    assert.ok(until <= Date.now() + LEAF_LIFETIME_SEC * 1000, unknown.body.until);
  });

  it('takes a revoked operator certificate for nothing on the mutual-TLS admin listener', async () => {
    const { keyPem, csrPem } = await keyAndCsr(OPERATOR_ID);
    const response = await fetch(`${secure.adminUrl}/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secure.adminToken()}` },
      body: JSON.stringify({ csrPem }),
    });
    const issued = (await response.json()) as { certificatePem: string };
    assert.equal(response.status, 200);
    const operator = { keyPem, certificatePem: issued.certificatePem };
    // A token route that changes nothing: with the token (the certificate) the
    // unknown node is 404, without it 401.
    const drain = (): Promise<{ status: number; text: string }> =>
      adminMtlsCall(secure, 'POST', '/nodes/ghost/drain', '{}', operator);
    const allowed = await drain();
    assert.equal(allowed.status, 404, allowed.text);

    const counted = await metric(secure, ADMIN_REVOKED, {});
    const revoked = await revoke(secure, new X509Certificate(operator.certificatePem).serialNumber);
    assert.equal(revoked.status, 200, revoked.body.error);
    assert.deepEqual([revoked.body.spiffeId, revoked.body.known], [OPERATOR_ID, true]);
    assert.equal((await drain()).status, 401);
    assert.equal(await metric(secure, ADMIN_REVOKED, {}), counted + 1);
  });

  describe('streammesh cert revoke', () => {
    const commandEnv = (token: string): Record<string, string> => ({
      STREAMMESH_CONTROL_PLANE_ADMIN: formatHostPort(secure.plane.admin),
      STREAMMESH_ADMIN_TOKEN: token,
      // No token file here: only the variable can give one.
      XDG_STATE_HOME: join(secure.dir, 'cli-state'),
    });

    it('revokes a serial and prints whose it was and until when', async () => {
      const nodeD = await connectedNode(secure, 'proxy-d');
      try {
        const serial = await caSerialOf(secure, 'proxy-d');
        const config = secure.file(`controlPlane:\n  trustDomain: ${TRUST_DOMAIN}\n`, 'cli.yaml');
        const result = await runStreammesh(
          ['cert', 'revoke', serial, '--config', config],
          commandEnv(secure.adminToken()),
        );
        assert.equal(result.code, 0, result.stderr);
        const until = new Date(new X509Certificate(nodeD.certificate.certificatePem).validTo);
        assert.equal(
          result.stdout,
          `revoked ${serial} (${proxyId()}), listed until ${until.toISOString()}\n`,
        );
        const ended = await within(nodeD.stream.ended, 5_000, "proxy-d's stream was not ended");
        assert.equal(ended.code, grpc.status.UNAUTHENTICATED);
      } finally {
        nodeD.stream.close();
        nodeD.client.close();
      }
    });

    it('says there is no admin token, and exits 2', async () => {
      const nodeE = await connectedNode(secure, 'proxy-e');
      try {
        const serial = await caSerialOf(secure, 'proxy-e');
        const config = secure.file(`controlPlane:\n  trustDomain: ${TRUST_DOMAIN}\n`, 'cli2.yaml');
        const none = await runStreammesh(
          ['cert', 'revoke', serial, '--config', config],
          commandEnv(''),
        );
        assert.equal(none.code, 2, none.stdout);
        assert.match(none.stderr, /^streammesh cert: no admin token: set STREAMMESH_ADMIN_TOKEN/);
        const wrong = await runStreammesh(
          ['cert', 'revoke', serial, '--config', config],
          commandEnv('not-the-token'),
        );
        assert.equal(wrong.code, 2, wrong.stdout);
        assert.match(wrong.stderr, /refused the admin token/);
        // Nothing was revoked: the node still registers.
        assert.equal(await register(nodeE.client, 'proxy-e'), null);
      } finally {
        nodeE.stream.close();
        nodeE.client.close();
      }
    });
  });

  // Last: it restarts the control plane.
  it('still refuses a revoked certificate after a restart on the same CA directory', async () => {
    const serial = new X509Certificate(nodeA.certificate.certificatePem).serialNumber;
    nodeB.stream.close();
    await secure.stop();
    secure = await startSecurePlane({ dir: secure.dir, leafLifetimeSec: LEAF_LIFETIME_SEC });
    const registers = await metric(secure, REGISTER_REFUSED, { reason: 'revoked' });
    const asA = controlClient(secure, nodeA.certificate);
    const asB = controlClient(secure, nodeB.certificate);
    try {
      assert.equal((await register(asA, 'proxy-a'))?.code, grpc.status.UNAUTHENTICATED);
      // The control: the same CA, and an unrevoked certificate of it registers.
      assert.equal(await register(asB, 'proxy-b'), null);
    } finally {
      asA.close();
      asB.close();
    }
    assert.equal(await metric(secure, REGISTER_REFUSED, { reason: 'revoked' }), registers + 1);
    const list = await getJson<{ revoked: { serial: string; spiffeId: string | null }[] }>(
      `${secure.adminUrl}/certificates/revoked`,
    );
    assert.deepEqual(
      list.body.revoked.find((entry) => entry.serial === serial)?.spiffeId,
      proxyId(),
    );
  });
});
