/**
 * Proxy-to-proxy mutual TLS (issue 17, item 2) with certificates of a real
 * mesh CA: an application's plaintext request to its local proxy A
 * (spiffe://streammesh.local/ns/default/sa/frontend) crosses to proxy B
 * (.../sa/users) over mutual TLS and reaches B's upstream, which reads A's
 * verified identity in x-streammesh-peer-identity. Clients: curl over
 * HTTP/1.1 and HTTP/2 (prior knowledge), and a grpc-js client.
 *
 * B's mesh listener refuses, and counts, client certificates made by
 * openssl that are expired, of another trust domain, self-signed, or of
 * another CA (openssl s_client presents them), and no certificate; a valid
 * one presented the same way is served, so the refusals are the
 * certificates' doing. A cluster whose spiffeIds do not include B's
 * identity answers 503 and counts. Hostile bytes on the mesh listener
 * (plaintext HTTP, garbage, a ClientHello and then silence) are dropped and
 * counted while proxied traffic goes on. A renewal of B's certificate
 * reaches new handshakes and leaves open connections serving; the L7
 * thread takes the certificate from the main thread. A listener in mode
 * "server" terminates TLS for clients outside the mesh (curl, HTTP/1.1
 * and HTTP/2 by ALPN) with a certificate from files.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTcpServer, type Server } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { httpSchema } from '../../../src/config/http-schema.js';
import { IsolatedHttpService } from '../../../rtp-proxy/l7/index.js';
import {
  delay,
  sendRaw,
  startBackend,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';
import {
  issueWorkload,
  refusedClientCertificates,
  sendHttps,
  startMeshProxy,
  startTestCa,
  workloadId,
  writeWorkload,
  type CertificateFiles,
  type TestCa,
} from '../../helpers/mesh-tls.js';

const run = promisify(execFile);
const FRONTEND = workloadId('frontend');
const USERS = workloadId('users');
const BILLING = workloadId('billing');
const PEER_HEADER = 'x-streammesh-peer-identity';
const HANDSHAKE_TIMEOUT_MS = 1_000;

const identity = (value: Buffer): Buffer => value;
const echoMethod = {
  path: '/test.Echo/Echo',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
} as const;

interface GrpcUpstream {
  readonly server: grpc.Server;
  readonly address: string;
  readonly peers: (string | undefined)[];
}

/** A gRPC server that answers "echo:<request>" and records the peer header it was given. */
async function startGrpcUpstream(): Promise<GrpcUpstream> {
  const server = new grpc.Server();
  const peers: (string | undefined)[] = [];
  server.addService(
    { echo: echoMethod },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const value = call.metadata.get(PEER_HEADER)[0];
        peers.push(typeof value === 'string' ? value : undefined);
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
  return { server, address: `127.0.0.1:${port}`, peers };
}

function grpcEcho(port: number, text: string): Promise<string> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    client.makeUnaryRequest(
      echoMethod.path,
      identity,
      identity,
      Buffer.from(text),
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (error, reply) => {
        client.close();
        if (error !== null) reject(error);
        else resolve(reply?.toString() ?? '');
      },
    );
  });
}

/** curl's status code for one request (HTTP/1.1, or HTTP/2 with prior knowledge). */
async function curl(
  url: string,
  options: { readonly http2?: boolean; readonly headers?: readonly string[] } = {},
): Promise<{ status: number; version: string }> {
  const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', '-m', '5'];
  args.push(options.http2 === true ? '--http2-prior-knowledge' : '--http1.1');
  for (const header of options.headers ?? []) args.push('-H', header);
  const { stdout } = await run('curl', [...args, url], { timeout: 10_000 });
  const [status, version] = stdout.trim().split(' ');
  return { status: Number(status), version: version ?? '' };
}

/**
 * openssl s_client with `client` (or no certificate) sending one HTTP/1.1
 * request to `port`: what came back in clear (empty when refused).
 */
async function sClient(
  port: number,
  ca: string,
  client: CertificateFiles | undefined,
): Promise<string> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', ca, '-quiet'];
  args.push('-verify_return_error', '-alpn', 'http/1.1');
  if (client !== undefined) args.push('-cert', client.certFile, '-key', client.keyFile);
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'ignore'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stdin.on('error', () => undefined);
  child.stdin.end('GET /s-client HTTP/1.1\r\nHost: mesh.test\r\nConnection: close\r\n\r\n');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await once(child, 'close');
  clearTimeout(timer);
  return Buffer.concat(out).toString('latin1');
}

/** Waits until `read` returns at least `want` (bounded), and returns what it read last. */
async function until(read: () => Promise<number>, want: number): Promise<number> {
  let value = await read();
  for (let i = 0; i < 100 && value < want; i += 1) {
    await delay(20);
    value = await read();
  }
  return value;
}

describe('proxy-to-proxy mutual TLS', () => {
  let testCa: TestCa;
  let backend: Backend;
  let grpcUpstream: GrpcUpstream;
  let proxyB: RunningProxy;
  let proxyA: RunningProxy;
  let bundleFile: string;
  let frontendFiles: CertificateFiles;

  before(async () => {
    testCa = await startTestCa();
    backend = await startBackend('users-app');
    grpcUpstream = await startGrpcUpstream();
    const usersCerts = await issueWorkload(testCa.ca, USERS);
    const frontendCerts = await issueWorkload(testCa.ca, FRONTEND);
    frontendFiles = writeWorkload(testCa.dir, 'frontend', frontendCerts);
    bundleFile = `${testCa.dir}/bundle.pem`;
    writeFileSync(bundleFile, testCa.bundlePem);
    proxyB = await startMeshProxy(
      {
        listeners: [
          {
            name: 'users',
            listen: '127.0.0.1:0',
            tls: { mode: 'mesh' },
            headersTimeoutMs: HANDSHAKE_TIMEOUT_MS,
          },
        ],
        routes: [
          { name: 'grpc', match: { path: { prefix: '/test.Echo/' } }, action: { cluster: 'grpc' } },
          { name: 'app', match: { path: { prefix: '/' } }, action: { cluster: 'app' } },
        ],
        clusters: [
          { name: 'app', endpoints: [backend.address] },
          { name: 'grpc', endpoints: [grpcUpstream.address], http2: true },
        ],
      },
      usersCerts,
    );
    const meshB = `127.0.0.1:${proxyB.portOf('users')}`;
    proxyA = await startMeshProxy(
      {
        listeners: [{ name: 'local', listen: '127.0.0.1:0' }],
        routes: [
          {
            name: 'users-grpc',
            match: { path: { prefix: '/test.Echo/' } },
            action: { cluster: 'users-h2' },
          },
          {
            name: 'wrong-id',
            match: { path: { prefix: '/wrong-id/' } },
            action: { cluster: 'users-as-billing' },
          },
          {
            name: 'users-h2-route',
            match: { path: { prefix: '/' }, headers: [{ name: 'x-via', exact: 'h2' }] },
            action: { cluster: 'users-h2' },
          },
          { name: 'users', match: { path: { prefix: '/' } }, action: { cluster: 'users-h1' } },
        ],
        clusters: [
          { name: 'users-h1', endpoints: [meshB], tls: { mode: 'mesh', spiffeIds: [USERS] } },
          { name: 'users-h2', endpoints: [meshB], http2: true, tls: { mode: 'mesh' } },
          {
            name: 'users-as-billing',
            endpoints: [meshB],
            tls: { mode: 'mesh', spiffeIds: [BILLING] },
          },
        ],
      },
      frontendCerts,
    );
  });

  after(async () => {
    await proxyA.close();
    await proxyB.close();
    await backend.close();
    grpcUpstream.server.forceShutdown();
    testCa.close();
  });

  it('carries curl HTTP/1.1 and HTTP/2 requests over mTLS; the upstream reads the caller identity, never a forged one', async () => {
    const local = `http://127.0.0.1:${proxyA.portOf('local')}`;
    const seen = backend.seen.length;
    const forged = `${PEER_HEADER}: ${BILLING}`;
    const h1 = await curl(`${local}/users/1`, { headers: [forged] });
    const h2 = await curl(`${local}/users/2`, { http2: true, headers: [forged] });
    const h2Cluster = await curl(`${local}/users/3`, {
      http2: true,
      headers: ['x-via: h2', forged],
    });
    assert.deepEqual(
      [h1, h2, h2Cluster],
      [
        { status: 200, version: '1.1' },
        { status: 200, version: '2' },
        { status: 200, version: '2' },
      ],
    );
    const arrived = backend.seen.slice(seen);
    assert.deepEqual(
      arrived.map((request) => request.path),
      ['/users/1', '/users/2', '/users/3'],
    );
    for (const request of arrived) {
      assert.equal(request.headers[PEER_HEADER], FRONTEND);
      assert.equal(request.headers['x-forwarded-proto'], 'https');
    }
  });

  it('carries a grpc-js call over mTLS (HTTP/2 with ALPN h2 on the hop)', async () => {
    const reply = await grpcEcho(proxyA.portOf('local'), 'hello');
    assert.equal(reply, 'echo:hello');
    assert.equal(grpcUpstream.peers.at(-1), FRONTEND);
  });

  it('refuses client certificates that are expired, of another trust domain, self-signed or of another CA, and no certificate', async () => {
    const bad = refusedClientCertificates(testCa.dir, testCa.rootFile, FRONTEND);
    const port = proxyB.portOf('users');
    // The same way of connecting, with a valid certificate, is served.
    assert.match(await sClient(port, bundleFile, frontendFiles), /^HTTP\/1\.1 200 /);
    const refused = (): Promise<number> =>
      proxyB.metric('streammesh_http_refused_requests_total', { listener: 'users' });
    const seen = backend.seen.length;
    const cases: [string, CertificateFiles | undefined, string][] = [
      ['expired', bad.expired, 'tls_client_certificate_expired'],
      ['another trust domain', bad.otherTrustDomain, 'tls_no_mesh_identity'],
      ['self-signed', bad.selfSigned, 'tls_client_certificate_untrusted'],
      ['another CA', bad.otherCa, 'tls_client_certificate_untrusted'],
      ['none', undefined, 'tls_no_client_certificate'],
    ];
    for (const [what, client, reason] of cases) {
      const before = await refused();
      const byReason = await proxyB.metric('streammesh_http_refused_requests_total', {
        listener: 'users',
        reason,
      });
      const answer = await sClient(port, bundleFile, client);
      assert.doesNotMatch(answer, /HTTP\/1\.1/, `${what}: no HTTP answer`);
      assert.equal(await until(refused, before + 1), before + 1, `${what}: counted once`);
      assert.equal(
        await proxyB.metric('streammesh_http_refused_requests_total', {
          listener: 'users',
          reason,
        }),
        byReason + 1,
        `${what}: counted as ${reason}`,
      );
    }
    assert.equal(backend.seen.length, seen, 'no refused client reached the upstream');
  });

  it('fails a request whose endpoint is not one of the cluster spiffeIds: 503, counted, nothing sent', async () => {
    const seen = backend.seen.length;
    const before = await proxyA.metric('streammesh_http_upstream_tls_failures_total', {
      cluster: 'users-as-billing',
      reason: 'server_identity',
    });
    const answer = await curl(`http://127.0.0.1:${proxyA.portOf('local')}/wrong-id/x`);
    assert.equal(answer.status, 503);
    assert.equal(
      await proxyA.metric('streammesh_http_upstream_tls_failures_total', {
        cluster: 'users-as-billing',
        reason: 'server_identity',
      }),
      before + 1,
    );
    assert.equal(backend.seen.length, seen);
  });

  it('a renewed client certificate is presented by new upstream connections; a pooled one keeps its own', async () => {
    const meshB = `127.0.0.1:${proxyB.portOf('users')}`;
    const client = await startMeshProxy(
      {
        listeners: [{ name: 'local', listen: '127.0.0.1:0' }],
        routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'users' } }],
        clusters: [{ name: 'users', endpoints: [meshB], tls: { mode: 'mesh' } }],
      },
      await issueWorkload(testCa.ca, FRONTEND),
    );
    // A renewal keeps the ID; here the new certificate names another one, to tell them apart.
    const RENEWED = workloadId('frontend-renewed');
    const local = `http://127.0.0.1:${client.portOf('local')}`;
    const peerOf = (path: string): string | string[] | undefined =>
      backend.seen.findLast((request) => request.path === path)?.headers[PEER_HEADER];
    try {
      assert.equal((await curl(`${local}/renewal-1`)).status, 200);
      assert.equal(peerOf('/renewal-1'), FRONTEND);
      client.service.credentials.update(await issueWorkload(testCa.ca, RENEWED));
      assert.equal((await curl(`${local}/renewal-2`)).status, 200);
      assert.equal(peerOf('/renewal-2'), FRONTEND, 'the pooled connection kept its certificate');
      // Two at once: one takes the pooled connection, the other needs a new one.
      backend.handler = (req, res) => {
        setTimeout(() => res.end('slow'), 300);
        req.resume();
      };
      const answers = await Promise.all([curl(`${local}/renewal-3`), curl(`${local}/renewal-4`)]);
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [200, 200],
      );
      assert.deepEqual(
        new Set([peerOf('/renewal-3'), peerOf('/renewal-4')]),
        new Set([FRONTEND, RENEWED]),
      );
    } finally {
      backend.handler = undefined;
      await client.close();
    }
  });

  it('fails a request whose endpoint presents a certificate the trust bundle does not verify: 503, counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l7-untrusted-'));
    const keyFile = join(dir, 'k.pem');
    const certFile = join(dir, 'c.pem');
    await run('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=stranger'],
      ...['-addext', `subjectAltName=URI:${USERS}`],
    ]);
    const stranger = await startMeshProxy(
      {
        listeners: [
          { name: 'tls', listen: '127.0.0.1:0', tls: { mode: 'server', certFile, keyFile } },
        ],
        routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'app' } }],
        clusters: [{ name: 'app', endpoints: [backend.address] }],
      },
      undefined,
    );
    const client = await startMeshProxy(
      {
        listeners: [{ name: 'local', listen: '127.0.0.1:0' }],
        routes: [
          { name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'stranger' } },
        ],
        clusters: [
          {
            name: 'stranger',
            endpoints: [`127.0.0.1:${stranger.portOf('tls')}`],
            tls: { mode: 'mesh', spiffeIds: [USERS] },
          },
        ],
      },
      await issueWorkload(testCa.ca, FRONTEND),
    );
    try {
      const seen = backend.seen.length;
      assert.equal((await curl(`http://127.0.0.1:${client.portOf('local')}/x`)).status, 503);
      assert.equal(
        await client.metric('streammesh_http_upstream_tls_failures_total', {
          cluster: 'stranger',
          reason: 'certificate',
        }),
        1,
      );
      assert.equal(backend.seen.length, seen, 'nothing was sent to the stranger');
    } finally {
      await client.close();
      await stranger.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drops and counts plaintext HTTP, garbage and a silent ClientHello on the mesh listener; traffic goes on', async () => {
    const port = proxyB.portOf('users');
    const count = (reason: string): Promise<number> =>
      proxyB.metric('streammesh_http_refused_requests_total', { listener: 'users', reason });
    const local = `http://127.0.0.1:${proxyA.portOf('local')}`;
    const total = (): Promise<number> =>
      proxyB.metric('streammesh_http_refused_requests_total', { listener: 'users' });
    const notTls = await count('tls_not_tls');
    const timeouts = await count('tls_handshake_timeout');
    const plaintext = await sendRaw(port, 'GET / HTTP/1.1\r\nHost: users\r\n\r\n');
    assert.doesNotMatch(plaintext.toString('latin1'), /HTTP\/1\.1/, 'no HTTP answer to plaintext');
    assert.equal(await until(() => count('tls_not_tls'), notTls + 1), notTls + 1);
    const beforeGarbage = await total();
    // A TLS record header that announces a handshake, then bytes that are none.
    const garbage = await sendRaw(
      port,
      Buffer.from('\x16\x03\x01\x00\x05garbage-bytes-here', 'latin1'),
    );
    assert.ok(garbage.length <= 7, 'at most a TLS alert comes back');
    assert.equal(await until(total, beforeGarbage + 1), beforeGarbage + 1);
    // A real ClientHello, then nothing: closed at the handshake timeout, counted.
    const hello = await clientHello();
    const startedAt = Date.now();
    const silent = sendRaw(port, hello, HANDSHAKE_TIMEOUT_MS * 5);
    // Meanwhile the proxied path is undisturbed.
    assert.equal((await curl(`${local}/during-hostile`)).status, 200);
    await silent;
    assert.ok(Date.now() - startedAt >= HANDSHAKE_TIMEOUT_MS * 0.9, 'held until the timeout');
    assert.equal(await until(() => count('tls_handshake_timeout'), timeouts + 1), timeouts + 1);
    assert.equal((await curl(`${local}/after-hostile`)).status, 200);
  });

  it('a renewed certificate reaches new handshakes; a connection open before keeps serving', async () => {
    const port = proxyB.portOf('users');
    const dial = async (): Promise<TLSSocket> => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        key: frontendFiles.key,
        cert: frontendFiles.cert,
        ca: testCa.bundlePem,
        ALPNProtocols: ['http/1.1'],
        checkServerIdentity: () => undefined,
      });
      await once(socket, 'secureConnect');
      return socket;
    };
    const exchange = async (socket: TLSSocket, path: string): Promise<string> => {
      const parts: Buffer[] = [];
      const onData = (chunk: Buffer): number => parts.push(chunk);
      socket.on('data', onData);
      socket.write(`GET ${path} HTTP/1.1\r\nHost: mesh.test\r\n\r\n`);
      for (let i = 0; i < 250 && !Buffer.concat(parts).toString().includes('users-app'); i += 1) {
        await delay(20);
      }
      socket.off('data', onData);
      return Buffer.concat(parts).toString('latin1');
    };
    const open = await dial();
    const before = open.getPeerCertificate().serialNumber;
    assert.match(await exchange(open, '/before-renewal'), /^HTTP\/1\.1 200 /);
    proxyB.service.credentials.update(await issueWorkload(testCa.ca, USERS));
    const fresh = await dial();
    const renewed = fresh.getPeerCertificate().serialNumber;
    fresh.destroy();
    assert.notEqual(renewed, before, 'a new handshake gets the renewed certificate');
    assert.match(await exchange(open, '/after-renewal'), /^HTTP\/1\.1 200 /);
    assert.equal(
      open.getPeerCertificate().serialNumber,
      before,
      'the open connection kept its own',
    );
    open.destroy();
    // And the proxy-to-proxy path handshakes anew with it.
    assert.equal((await curl(`http://127.0.0.1:${proxyA.portOf('local')}/x`)).status, 200);
  });

  it('closes an open connection whose client certificate a new revocation list names, counted; other clients go on', async () => {
    const port = proxyB.portOf('users');
    const revokedClient = await issueWorkload(testCa.ca, FRONTEND);
    const open = tlsConnect({
      host: '127.0.0.1',
      port,
      key: revokedClient.privateKeyPem,
      cert: revokedClient.certificatePem + revokedClient.chainPem,
      ca: testCa.bundlePem,
      ALPNProtocols: ['http/1.1'],
      checkServerIdentity: () => undefined,
    });
    await once(open, 'secureConnect');
    const closed = once(open, 'close');
    open.write('GET /before-revocation HTTP/1.1\r\nHost: mesh.test\r\n\r\n');
    await once(open, 'data');
    const revokedCount = (): Promise<number> =>
      proxyB.metric('streammesh_http_refused_requests_total', {
        listener: 'users',
        reason: 'tls_client_certificate_revoked',
      });
    const before = await revokedCount();
    // The list arrives with the trust bundle (a new certificate set on the L7 thread).
    proxyB.service.credentials.update({
      ...(await issueWorkload(testCa.ca, USERS)),
      revokedSerials: [new X509Certificate(revokedClient.certificatePem).serialNumber],
    });
    await Promise.race([
      closed,
      delay(5_000).then(() => assert.fail('the revoked client was not closed')),
    ]);
    assert.equal(await until(revokedCount, before + 1), before + 1);
    // Another frontend certificate, and the proxy-to-proxy path, are served.
    assert.match(await sClient(port, bundleFile, frontendFiles), /^HTTP\/1\.1 200 /);
    assert.equal((await curl(`http://127.0.0.1:${proxyA.portOf('local')}/y`)).status, 200);
  });
});

describe('TLS termination for clients outside the mesh (tls.mode "server")', () => {
  it('serves HTTP/1.1 and HTTP/2 (ALPN) with a certificate from files; no client certificate, no identity', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l7-server-tls-'));
    const backend = await startBackend('edge-app');
    const keyFile = join(dir, 'edge.key');
    const certFile = join(dir, 'edge.pem');
    await run('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=edge.test'],
      ...['-addext', 'subjectAltName=DNS:edge.test'],
    ]);
    const proxy = await startMeshProxy(
      {
        listeners: [
          { name: 'edge', listen: '127.0.0.1:0', tls: { mode: 'server', certFile, keyFile } },
        ],
        routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'app' } }],
        clusters: [{ name: 'app', endpoints: [backend.address] }],
      },
      undefined,
    );
    try {
      const port = proxy.portOf('edge');
      const url = `https://edge.test:${port}/outside`;
      const resolve = `edge.test:${port}:127.0.0.1`;
      for (const version of ['--http1.1', '--http2']) {
        const { stdout } = await run(
          'curl',
          [
            ...['-sS', version, '--cacert', certFile, '--resolve', resolve, '-o', '/dev/null'],
            ...['-w', '%{http_code} %{http_version}', '-H', `${PEER_HEADER}: ${FRONTEND}`, url],
          ],
          { timeout: 10_000 },
        );
        assert.equal(stdout, version === '--http2' ? '200 2' : '200 1.1');
        const seen = backend.seen.at(-1);
        assert.equal(
          seen?.headers[PEER_HEADER],
          undefined,
          'no identity, and the forged one removed',
        );
        assert.equal(seen?.headers['x-forwarded-proto'], 'https');
      }
      // A listener whose files cannot be read refuses its config, naming it.
      await assert.rejects(
        startMeshProxy(
          {
            listeners: [
              {
                name: 'broken',
                listen: '127.0.0.1:0',
                tls: { mode: 'server', certFile: join(dir, 'missing.pem'), keyFile },
              },
            ],
          },
          undefined,
        ),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'ERR_HTTP_LISTENER_TLS');
          assert.match(error.message, /proxy\.http\.listeners broken tls/);
          assert.doesNotMatch(error.message, /PRIVATE KEY/);
          return true;
        },
      );
    } finally {
      await proxy.close();
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the L7 thread and the workload certificate', () => {
  it('takes the certificate from the main thread, and refuses a mesh listener without one', async () => {
    const testCa = await startTestCa();
    const backend = await startBackend('threaded');
    const http = new IsolatedHttpService({
      role: 'proxy',
      log: pino({ level: 'silent' }),
      metrics: new Registry(),
    });
    try {
      const config = httpSchema.parse({
        listeners: [{ name: 'mesh', listen: '127.0.0.1:0', tls: { mode: 'mesh' } }],
        routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'app' } }],
        clusters: [{ name: 'app', endpoints: [backend.address] }],
      });
      await assert.rejects(http.prepareHttp(config), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ERR_HTTP_LISTENER_TLS');
        assert.match(error.message, /proxy\.http\.listeners mesh tls/);
        return true;
      });
      const events = new EventEmitter();
      let current = await issueWorkload(testCa.ca, USERS);
      http.useIdentity({
        current: () => current,
        on: (event, listener) => events.on(event, listener),
        off: (event, listener) => events.off(event, listener),
      });
      (await http.prepareHttp(config)).commit();
      const port = (await http.listeners())[0]?.port ?? 0;
      const client = await issueWorkload(testCa.ca, FRONTEND);
      const call = (): Promise<number> =>
        sendHttps({
          port,
          path: '/',
          ca: testCa.bundlePem,
          client: { key: client.privateKeyPem, cert: client.certificatePem },
        }).then((answer) => answer.status);
      assert.equal(await call(), 200);
      assert.equal(backend.seen.at(-1)?.headers[PEER_HEADER], FRONTEND);
      const serialOf = async (): Promise<string> => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port,
          key: client.privateKeyPem,
          cert: client.certificatePem,
          ca: testCa.bundlePem,
          checkServerIdentity: () => undefined,
        });
        await once(socket, 'secureConnect');
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        return serial;
      };
      const first = await serialOf();
      current = await issueWorkload(testCa.ca, USERS);
      events.emit('renewed', current);
      let next = first;
      for (let i = 0; i < 100 && next === first; i += 1) {
        await delay(20);
        next = await serialOf();
      }
      assert.notEqual(next, first, 'the renewal reached the thread');
      assert.equal(await call(), 200);
    } finally {
      await http.close();
      await backend.close();
      testCa.close();
    }
  });
});

/** The first flight of a real TLS client: captured from a node:tls client by a listener that answers nothing. */
async function clientHello(): Promise<Buffer> {
  const server: Server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const received = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      socket.once('data', (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
      });
    });
  });
  const client = tlsConnect({ host: '127.0.0.1', port: address.port, rejectUnauthorized: false });
  client.on('error', () => undefined);
  const hello = await received;
  client.destroy();
  server.close();
  return hello;
}
