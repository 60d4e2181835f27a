/**
 * The control plane's listeners face whatever reaches them. Malformed or
 * out-of-order gRPC messages, junk bytes, oversized and malformed HTTP get an
 * error or a closed connection; the process keeps serving real nodes.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import {
  createMeshControlClient,
  type MeshControlClient,
  MAX_HELLO_RESOURCES,
  type NodeMessageOut,
  type RegisterRequest,
  type ResourceUpdate,
  type WireResourceRef,
} from '../../../src/protocol/mesh/index.js';
import { formatHostPort, httpUrl } from '../../../src/shared/address.js';
import { defaultConfig } from '../../../src/config/index.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText, putText } from '../../helpers/http.js';

function register(
  client: MeshControlClient,
  request: RegisterRequest,
): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    client.register(request, { deadline: Date.now() + 2_000 }, (error) => resolve(error));
  });
}

function streamError(client: MeshControlClient, first: NodeMessageOut): Promise<grpc.ServiceError> {
  return new Promise((resolve, reject) => {
    const stream = client.streamResources();
    stream.on('error', resolve);
    stream.on('data', () => reject(new Error('an update was sent to a refused stream')));
    stream.write(first);
  });
}

/** Writes raw bytes to a TCP port and returns what came back before close. */
function rawExchange(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('close', () => resolve(received));
    socket.on('error', () => resolve(received));
    socket.setTimeout(3_000, () => socket.destroy());
    socket.end(bytes);
  });
}

const good: RegisterRequest = {
  identity: { id: 'proxy-good', node: 'n1', role: 'ROLE_PROXY' },
  capabilities: ['rtp'],
  listenAddresses: { admin: '127.0.0.1:1' },
  currentVersion: '',
};

describe('control plane under hostile input', () => {
  let plane: RunningControlPlane;
  let client: MeshControlClient;
  let adminUrl: string;
  const adminToken = newAdminToken();

  before(async () => {
    const defaults = defaultConfig({
      STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
      STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
    });
    // A raw plaintext client: this test is about the protocol's messages, not mTLS.
    const config = { ...defaults, controlPlane: { ...defaults.controlPlane, mtls: false } };
    plane = await startControlPlane({
      config,
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(adminToken),
    });
    client = createMeshControlClient(formatHostPort(plane.grpc));
    adminUrl = httpUrl(plane.admin);
  });

  after(async () => {
    client.close();
    await plane.close();
  });

  it('refuses registrations with a bad id or no role', async () => {
    const badId = await register(client, {
      ...good,
      identity: { ...good.identity, id: 'Bad Id!' },
    });
    assert.equal(badId?.code, grpc.status.INVALID_ARGUMENT);
    const longId = await register(client, {
      ...good,
      identity: { ...good.identity, id: 'a'.repeat(300) },
    });
    assert.equal(longId?.code, grpc.status.INVALID_ARGUMENT);
    const noRole = await register(client, {
      ...good,
      identity: { ...good.identity, role: 'ROLE_UNSPECIFIED' },
    });
    assert.equal(noRole?.code, grpc.status.INVALID_ARGUMENT);
    const nodes = await getJson<{ nodes: unknown[] }>(`${adminUrl}/nodes`);
    assert.equal(nodes.body.nodes.length, 0);
  });

  it('refuses a config stream that does not start with a hello from a registered node', async () => {
    const heartbeatFirst = await streamError(client, { heartbeat: { sentAtMs: 1 } });
    assert.equal(heartbeatFirst.code, grpc.status.FAILED_PRECONDITION);
    const unknownNode = await streamError(client, {
      hello: { id: 'never-registered', systemVersion: '', resources: [] },
    });
    assert.equal(unknownNode.code, grpc.status.FAILED_PRECONDITION);
  });

  it('refuses a stream once, however many messages follow its bad first one', async () => {
    const refusedCount = async (): Promise<number> => {
      const line =
        /streammesh_control_plane_refused_streams_total\{reason="no_hello",role="control-plane"\} (\d+)/.exec(
          (await getText(`${adminUrl}/metrics`)).text,
        );
      return Number(line?.[1] ?? 0);
    };
    const before = await refusedCount();
    const stream = client.streamResources();
    const errors: grpc.ServiceError[] = [];
    const closed = new Promise<void>((resolve) => {
      stream.on('error', (error: grpc.ServiceError) => errors.push(error));
      stream.on('status', () => resolve());
      stream.on('data', () => undefined);
    });
    const followers = 20;
    stream.write({ heartbeat: { sentAtMs: 1 } });
    for (let index = 0; index < followers; index += 1) {
      stream.write({ heartbeat: { sentAtMs: index + 2 } });
    }
    await closed;
    assert.deepEqual(
      errors.map((error) => error.code),
      [grpc.status.FAILED_PRECONDITION],
    );
    // Let any message the server still had to read reach it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await refusedCount(), before + 1, 'one refusal, not one per message');
  });

  it('refuses a hello whose resource refs are not valid', async () => {
    assert.equal(
      await register(client, { ...good, identity: { ...good.identity, id: 'proxy-bad-hello' } }),
      null,
    );
    const hello = (resources: WireResourceRef[]): NodeMessageOut => ({
      hello: { id: 'proxy-bad-hello', systemVersion: '', resources },
    });
    const ref: WireResourceRef = { type: 'MEDIA_ROUTE', name: 'a', version: 'v' };
    const refusals = [
      await streamError(client, hello([{ ...ref, type: 'RESOURCE_TYPE_UNSPECIFIED' }])),
      await streamError(client, hello([{ ...ref, name: '' }])),
      await streamError(client, hello([{ ...ref, name: 'n'.repeat(300) }])),
      await streamError(client, hello([{ ...ref, version: 'v'.repeat(100) }])),
      await streamError(
        client,
        hello(
          Array.from({ length: MAX_HELLO_RESOURCES + 1 }, (_, index) => ({
            ...ref,
            name: `r${index}`,
          })),
        ),
      ),
    ];
    assert.deepEqual(
      refusals.map((error) => error.code),
      refusals.map(() => grpc.status.INVALID_ARGUMENT),
    );
    assert.match(refusals[0]?.details ?? '', /not a config resource/);
  });

  it('refuses an oversized message', async () => {
    const huge = await register(client, { ...good, capabilities: ['x'.repeat(2 * 1024 * 1024)] });
    assert.equal(huge?.code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it('survives junk bytes on the gRPC port', async () => {
    await rawExchange(plane.grpc.port, Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff\xfe garbage'));
    await rawExchange(
      plane.grpc.port,
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x09\x00\x00\x00\x00\x00zzzz',
    );
  });

  it('answers malformed and oversized HTTP on the admin port with 4xx', async () => {
    assert.match(await rawExchange(plane.admin.port, 'NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(
      await rawExchange(
        plane.admin.port,
        `GET /healthz HTTP/1.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
      ),
      /^HTTP\/1\.1 431|^HTTP\/1\.1 400/,
    );
    const tooLarge = await putText(
      `${adminUrl}/config`,
      `# ${'x'.repeat(2 * 1024 * 1024)}\n`,
      adminToken,
    ).catch(() => ({ status: 413 }));
    assert.equal(tooLarge.status, 413);
    assert.equal((await putText(`${adminUrl}/config`, '{{{{', adminToken)).status, 400);
    assert.equal((await getText(`${adminUrl}/no-such-path`)).status, 404);
    const wrongMethod = await fetch(`${adminUrl}/nodes`, { method: 'DELETE' });
    assert.equal(wrongMethod.status, 405);
    const metrics = await getText(`${adminUrl}/metrics`);
    assert.match(
      metrics.text,
      /streammesh_admin_bad_requests_total\{reason="HPE_INVALID_METHOD",role="control-plane"\} 1/,
    );
  });

  it('still serves a real node afterwards, and ignores answers to updates it never sent', async () => {
    assert.equal(await register(client, good), null);
    const stream = client.streamResources();
    const updates: ResourceUpdate[] = [];
    stream.on('data', (update: ResourceUpdate) => updates.push(update));
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('error', (error: grpc.ServiceError) => {
        if (error.code === grpc.status.CANCELLED) resolve();
        else reject(error);
      });
    });
    stream.write({ hello: { id: 'proxy-good', systemVersion: '', resources: [] } });
    const deadline = Date.now() + 3_000;
    while (updates.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const first = updates[0];
    assert.ok(first, 'an update arrived');
    const { body } = await getJson<{ version: string }>(`${adminUrl}/config`);
    assert.equal(first.systemVersion, body.version);
    assert.ok(first.resources.some((resource) => resource.type === 'MESH_SETTINGS'));
    // Answers for nonces never sent, and a NACK naming garbage, change nothing.
    stream.write({ ack: { nonce: 'nope', systemVersion: 'forged', applied: [] } });
    stream.write({
      nack: {
        nonce: 'nope',
        systemVersion: 'forged',
        reason: 'x'.repeat(10_000),
        errors: [{ resource: { type: 'PLACEMENT', name: '', version: '' }, reason: 'y' }],
      },
    });
    const staleCounted = async (): Promise<boolean> =>
      /streammesh_control_plane_stale_answers_total\{role="control-plane"\} 2/.test(
        (await getText(`${adminUrl}/metrics`)).text,
      );
    while (!(await staleCounted()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(await staleCounted(), 'both stale answers counted');
    const nodes = await getJson<{
      nodes: { id: string; ackedVersion: string; lastNack: unknown }[];
    }>(`${adminUrl}/nodes`);
    const node = nodes.body.nodes.find((item) => item.id === 'proxy-good');
    assert.equal(node?.ackedVersion, '');
    assert.equal(node.lastNack, undefined);
    stream.cancel();
    await ended;
  });
});
