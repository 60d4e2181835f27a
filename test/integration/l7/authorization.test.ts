/**
 * Authorization between identities on L7 listeners (issue 17, item 4), the
 * example's policy over real mutual TLS with mesh CA certificates:
 * `frontend` may call `users` but not `billing`; both services deny by
 * default. A frontend proxy (A) carries its application's plaintext
 * requests to the users and billing proxies over mTLS.
 *
 * - allowed calls answer 200 (HTTP/1.1) and OK (gRPC) and reach the upstream;
 * - denied ones answer 403, or PERMISSION_DENIED in a Trailers-Only gRPC
 *   response, never reach the upstream, and are counted in
 *   streammesh_http_authorization_denied_total by listener and rule;
 * - a deny rule on a path prefix is not bypassed by dot segments or
 *   percent-encoding;
 * - x-streammesh-peer-identity sent by a client changes nothing: the
 *   policy reads the verified certificate and the upstream gets the real
 *   caller;
 * - on a plaintext listener, only rules without `from` apply, and a `from`
 *   there is refused by the schema.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { httpSchema } from '../../../src/config/http-schema.js';
import {
  send,
  send2,
  startBackend,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';
import {
  issueWorkload,
  sendHttps,
  startMeshProxy,
  startTestCa,
  workloadId,
  type TestCa,
} from '../../helpers/mesh-tls.js';
import type { WorkloadCertificates } from '../../../src/shared/identity/index.js';

const run = promisify(execFile);
const FRONTEND = workloadId('frontend');
const USERS = workloadId('users');
const BILLING = workloadId('billing');
const ACCOUNTING = workloadId('accounting');
const INTRUDER = workloadId('intruder');
const PEER_HEADER = 'x-streammesh-peer-identity';
const DENIED = 'streammesh_http_authorization_denied_total';

const identity = (value: Buffer): Buffer => value;
const ECHO_PATH = '/test.Echo/Echo';

interface GrpcUpstream {
  readonly server: grpc.Server;
  readonly address: string;
  calls: number;
}

async function startGrpcUpstream(): Promise<GrpcUpstream> {
  const server = new grpc.Server();
  const state = { server, address: '', calls: 0 };
  server.addService(
    {
      echo: {
        path: ECHO_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        state.calls += 1;
        callback(null, Buffer.from(`echo:${call.request.toString()}`));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => {
      if (error === null) resolve(bound);
      else reject(error);
    });
  });
  return Object.assign(state, { address: `127.0.0.1:${port}` });
}

/** One unary call through the frontend proxy to `service` (its :authority); resolves with the status. */
function grpcCall(port: number, service: string): Promise<{ code: number; reply: string }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': service,
  });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      ECHO_PATH,
      identity,
      identity,
      Buffer.from('hi'),
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (error, reply) => {
        client.close();
        resolve({ code: error?.code ?? grpc.status.OK, reply: reply?.toString() ?? '' });
      },
    );
  });
}

/** A service proxy: one mesh listener named after the service, fronting `backend` and `grpcAddress`. */
function serviceProxy(
  name: string,
  certificates: WorkloadCertificates,
  authorization: unknown,
  backend: Backend,
  grpcAddress: string,
): Promise<RunningProxy> {
  return startMeshProxy(
    {
      listeners: [{ name, listen: '127.0.0.1:0', tls: { mode: 'mesh' }, authorization }],
      routes: [
        { name: 'grpc', match: { path: { prefix: '/test.Echo/' } }, action: { cluster: 'grpc' } },
        { name: 'app', match: { path: { prefix: '/' } }, action: { cluster: 'app' } },
      ],
      clusters: [
        { name: 'app', endpoints: [backend.address] },
        { name: 'grpc', endpoints: [grpcAddress], http2: true },
      ],
    },
    certificates,
  );
}

describe('authorization policies between identities', () => {
  let testCa: TestCa;
  let usersApp: Backend;
  let billingApp: Backend;
  let usersGrpc: GrpcUpstream;
  let billingGrpc: GrpcUpstream;
  let users: RunningProxy;
  let billing: RunningProxy;
  let frontend: RunningProxy;
  let local: number;

  before(async () => {
    testCa = await startTestCa();
    usersApp = await startBackend('users-app');
    billingApp = await startBackend('billing-app');
    usersGrpc = await startGrpcUpstream();
    billingGrpc = await startGrpcUpstream();
    users = await serviceProxy(
      'users',
      await issueWorkload(testCa.ca, USERS),
      {
        default: 'deny',
        rules: [
          { action: 'deny', paths: ['/admin'] },
          { action: 'allow', from: [FRONTEND] },
        ],
      },
      usersApp,
      usersGrpc.address,
    );
    billing = await serviceProxy(
      'billing',
      await issueWorkload(testCa.ca, BILLING),
      { default: 'deny', rules: [{ action: 'allow', from: [ACCOUNTING] }] },
      billingApp,
      billingGrpc.address,
    );
    const to = (proxy: RunningProxy, name: string): string => `127.0.0.1:${proxy.portOf(name)}`;
    frontend = await startMeshProxy(
      {
        listeners: [
          {
            name: 'local',
            listen: '127.0.0.1:0',
            // On a plaintext listener only rules without `from` can apply.
            authorization: { default: 'allow', rules: [{ action: 'deny', methods: ['DELETE'] }] },
          },
        ],
        routes: [
          {
            name: 'users',
            match: { authority: 'users', path: { prefix: '/' } },
            action: { cluster: 'users' },
          },
          {
            name: 'billing',
            match: { authority: 'billing', path: { prefix: '/' } },
            action: { cluster: 'billing' },
          },
        ],
        clusters: [
          {
            name: 'users',
            endpoints: [to(users, 'users')],
            http2: true,
            tls: { mode: 'mesh', spiffeIds: [USERS] },
          },
          {
            name: 'billing',
            endpoints: [to(billing, 'billing')],
            http2: true,
            tls: { mode: 'mesh', spiffeIds: [BILLING] },
          },
        ],
      },
      await issueWorkload(testCa.ca, FRONTEND),
    );
    local = frontend.portOf('local');
  });

  after(async () => {
    await frontend.close();
    await users.close();
    await billing.close();
    await usersApp.close();
    await billingApp.close();
    usersGrpc.server.forceShutdown();
    billingGrpc.server.forceShutdown();
    testCa.close();
  });

  it('frontend may call users: 200, and the upstream reads frontend as the caller', async () => {
    const seen = usersApp.seen.length;
    const answer = await send(local, { host: 'users', path: '/profile/1' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'users-app');
    assert.equal(usersApp.seen.length, seen + 1);
    assert.equal(usersApp.seen.at(-1)?.headers[PEER_HEADER], FRONTEND);
  });

  it('frontend may not call billing: 403 by the default, counted, never proxied', async () => {
    const seen = billingApp.seen.length;
    const denied = await billing.metric(DENIED, { listener: 'billing', rule: 'default' });
    const answer = await send(local, { host: 'billing', path: '/invoices' });
    assert.equal(answer.status, 403);
    assert.equal(
      await billing.metric(DENIED, { listener: 'billing', rule: 'default' }),
      denied + 1,
    );
    assert.equal(billingApp.seen.length, seen);
  });

  it('gRPC: OK to users; PERMISSION_DENIED from billing, counted, never proxied', async () => {
    const usersCalls = usersGrpc.calls;
    assert.deepEqual(await grpcCall(local, 'users'), { code: grpc.status.OK, reply: 'echo:hi' });
    assert.equal(usersGrpc.calls, usersCalls + 1);
    const denied = await billing.metric(DENIED, { listener: 'billing', rule: 'default' });
    const answer = await grpcCall(local, 'billing');
    assert.equal(answer.code, grpc.status.PERMISSION_DENIED);
    assert.equal(
      await billing.metric(DENIED, { listener: 'billing', rule: 'default' }),
      denied + 1,
    );
    assert.equal(billingGrpc.calls, 0);
  });

  it('answers a denied gRPC call Trailers-Only: HTTP 200 and grpc-status 7 in one HEADERS frame', async () => {
    const client = await issueWorkload(testCa.ca, FRONTEND);
    const session: ClientHttp2Session = http2Connect(
      `https://127.0.0.1:${billing.portOf('billing')}`,
      {
        ca: testCa.bundlePem,
        key: client.privateKeyPem,
        cert: client.certificatePem,
        checkServerIdentity: () => undefined,
      },
    );
    session.on('error', () => undefined);
    try {
      const answer = await send2(session, {
        host: 'billing',
        path: ECHO_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/grpc', te: 'trailers' },
        body: Buffer.from([0, 0, 0, 0, 0]),
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['grpc-status'], '7');
      assert.equal(answer.body.length, 0);
      assert.deepEqual(answer.trailers, {});
    } finally {
      session.close();
    }
  });

  it('a deny rule on a path prefix holds against dot segments and percent-encoding (rule 0)', async () => {
    const seen = usersApp.seen.length;
    const denied = await users.metric(DENIED, { listener: 'users', rule: '0' });
    const base = `http://127.0.0.1:${local}`;
    const paths = [
      '/admin/keys',
      '/profile/../admin/keys',
      '/%61dmin/keys',
      '//admin/keys',
      '/./admin',
    ];
    for (const path of paths) {
      const { stdout } = await run(
        'curl',
        [
          '-sS',
          '--path-as-is',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-H',
          'Host: users',
          `${base}${path}`,
        ],
        { timeout: 10_000 },
      );
      assert.equal(stdout, '403', path);
    }
    assert.equal(
      await users.metric(DENIED, { listener: 'users', rule: '0' }),
      denied + paths.length,
    );
    assert.equal(usersApp.seen.length, seen, 'none reached the upstream');
  });

  it('a forged x-streammesh-peer-identity changes nothing', async () => {
    // The frontend's application claims to be accounting: billing still refuses frontend.
    const billingSeen = billingApp.seen.length;
    const forged = await send(local, {
      host: 'billing',
      path: '/invoices',
      headers: { [PEER_HEADER]: ACCOUNTING },
    });
    assert.equal(forged.status, 403);
    assert.equal(billingApp.seen.length, billingSeen);
    // An allowed call claiming another identity: the upstream sees the verified one only.
    const claimed = await send(local, {
      host: 'users',
      path: '/profile/2',
      headers: { [PEER_HEADER]: ACCOUNTING },
    });
    assert.equal(claimed.status, 200);
    assert.equal(usersApp.seen.at(-1)?.headers[PEER_HEADER], FRONTEND);
    // A workload of the mesh that users does not allow, calling it directly and claiming frontend.
    const intruder = await issueWorkload(testCa.ca, INTRUDER);
    const usersSeen = usersApp.seen.length;
    const denied = await users.metric(DENIED, { listener: 'users', rule: 'default' });
    const direct = await sendHttps({
      port: users.portOf('users'),
      path: '/profile/3',
      headers: { [PEER_HEADER]: FRONTEND },
      ca: testCa.bundlePem,
      client: { key: intruder.privateKeyPem, cert: intruder.certificatePem },
    });
    assert.equal(direct.status, 403);
    assert.equal(await users.metric(DENIED, { listener: 'users', rule: 'default' }), denied + 1);
    assert.equal(usersApp.seen.length, usersSeen);
  });

  it('on a plaintext listener rules without `from` apply; a `from` there is refused by the schema', async () => {
    const denied = await frontend.metric(DENIED, { listener: 'local', rule: '0' });
    const seen = usersApp.seen.length;
    assert.equal(
      (await send(local, { host: 'users', path: '/profile/4', method: 'DELETE' })).status,
      403,
    );
    assert.equal(await frontend.metric(DENIED, { listener: 'local', rule: '0' }), denied + 1);
    assert.equal(usersApp.seen.length, seen);
    const refused = httpSchema.safeParse({
      listeners: [
        {
          name: 'plain',
          listen: '127.0.0.1:0',
          authorization: { default: 'deny', rules: [{ action: 'allow', from: [FRONTEND] }] },
        },
      ],
    });
    assert.ok(!refused.success, 'refused');
    assert.deepEqual(refused.error.issues[0]?.path, [
      'listeners',
      0,
      'authorization',
      'rules',
      0,
      'from',
    ]);
  });
});
