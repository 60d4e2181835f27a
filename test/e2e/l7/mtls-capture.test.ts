/**
 * The proxy-to-proxy hop on the wire (issue 17): tshark captures on `lo`
 * both the application's plaintext hop to its proxy A and A's mutual-TLS
 * hop to proxy B while HTTP/1.1, HTTP/2 and gRPC requests go through, each
 * with a marker in its path and a header. On B's port tshark must see TLS
 * (ClientHellos, application data records) and none of the markers, nor
 * the HTTP/2 preface; on A's plaintext port the same markers are found, so
 * their absence on the TLS hop is the encryption's doing, not the capture's.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { capturedTcpPayloads, countCaptured, startCapture } from '../../helpers/peers/tshark.js';
import { startBackend, type Backend, type RunningProxy } from '../../helpers/l7-harness.js';
import {
  issueWorkload,
  startMeshProxy,
  startTestCa,
  workloadId,
  type TestCa,
} from '../../helpers/mesh-tls.js';

const run = promisify(execFile);
const identity = (value: Buffer): Buffer => value;

describe('the proxy-to-proxy hop is TLS on the wire', { timeout: 90_000 }, () => {
  let testCa: TestCa;
  let backend: Backend;
  let grpcServer: grpc.Server;
  let proxyA: RunningProxy;
  let proxyB: RunningProxy;

  before(async () => {
    testCa = await startTestCa();
    backend = await startBackend('users-app');
    grpcServer = new grpc.Server();
    grpcServer.addService(
      {
        echo: {
          path: '/test.Echo/Echo',
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
          done(null, call.request);
        },
      },
    );
    const grpcPort = await new Promise<number>((resolve, reject) => {
      grpcServer.bindAsync(
        '127.0.0.1:0',
        grpc.ServerCredentials.createInsecure(),
        (error, port) => {
          if (error === null) resolve(port);
          else reject(error);
        },
      );
    });
    proxyB = await startMeshProxy(
      {
        listeners: [{ name: 'users', listen: '127.0.0.1:0', tls: { mode: 'mesh' } }],
        routes: [
          { name: 'grpc', match: { path: { prefix: '/test.Echo/' } }, action: { cluster: 'grpc' } },
          { name: 'app', match: { path: { prefix: '/' } }, action: { cluster: 'app' } },
        ],
        clusters: [
          { name: 'app', endpoints: [backend.address] },
          { name: 'grpc', endpoints: [`127.0.0.1:${grpcPort}`], http2: true },
        ],
      },
      await issueWorkload(testCa.ca, workloadId('users')),
    );
    const meshB = `127.0.0.1:${proxyB.portOf('users')}`;
    proxyA = await startMeshProxy(
      {
        listeners: [{ name: 'local', listen: '127.0.0.1:0' }],
        routes: [
          {
            name: 'grpc',
            match: { path: { prefix: '/test.Echo/' } },
            action: { cluster: 'users-h2' },
          },
          { name: 'users', match: { path: { prefix: '/' } }, action: { cluster: 'users-h1' } },
        ],
        clusters: [
          { name: 'users-h1', endpoints: [meshB], tls: { mode: 'mesh' } },
          { name: 'users-h2', endpoints: [meshB], http2: true, tls: { mode: 'mesh' } },
        ],
      },
      await issueWorkload(testCa.ca, workloadId('frontend')),
    );
  });

  after(async () => {
    await proxyA.close();
    await proxyB.close();
    await backend.close();
    grpcServer.forceShutdown();
    testCa.close();
  });

  it('shows TLS records and none of the requests on the mTLS hop, and the requests on the plaintext one', async (t) => {
    const local = proxyA.portOf('local');
    const mesh = proxyB.portOf('users');
    let capture: Awaited<ReturnType<typeof startCapture>>;
    try {
      capture = await startCapture({
        filter: `tcp port ${local} or tcp port ${mesh}`,
        timeoutMs: 60_000,
      });
    } catch (error) {
      t.skip(`tshark cannot capture on lo here: ${(error as Error).message}`);
      return;
    }
    const marker = randomBytes(8).toString('hex');
    const paths = [`/path-h1-${marker}`, `/path-h2-${marker}`];
    const base = `http://127.0.0.1:${local}`;
    for (const [path, version] of [
      [paths[0], '--http1.1'],
      [paths[1], '--http2-prior-knowledge'],
    ] as const) {
      const answer = await run(
        'curl',
        [
          '-sS',
          version,
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-H',
          `x-marker: hdr-${marker}`,
          `${base}${path ?? ''}`,
        ],
        { timeout: 10_000 },
      );
      assert.equal(answer.stdout, '200', path);
    }
    const client = new grpc.Client(`127.0.0.1:${local}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set('x-marker', `grpc-${marker}`);
    const reply = await new Promise<string>((resolve, reject) => {
      client.makeUnaryRequest(
        '/test.Echo/Echo',
        identity,
        identity,
        Buffer.from(`body-${marker}`),
        metadata,
        { deadline: Date.now() + 5_000 },
        (error, value) => {
          if (error !== null) reject(error);
          else resolve(value?.toString() ?? '');
        },
      );
    });
    client.close();
    assert.equal(reply, `body-${marker}`);
    const { packets } = await capture.stop();
    assert.ok(packets > 0, 'tshark captured packets');
    const onMesh = `tcp.port == ${mesh}`;
    assert.ok(
      (await countCaptured(capture.file, `${onMesh} && tls.handshake.type == 1`)) >= 2,
      'ClientHellos on the mesh hop (HTTP/1.1 and HTTP/2 connections)',
    );
    // TLS 1.3 hides the real type: every encrypted record says application_data (its opaque_type).
    const dataRecords = await countCaptured(
      capture.file,
      `${onMesh} && (tls.record.opaque_type == 23 || tls.record.content_type == 23)`,
    );
    assert.ok(dataRecords >= 6, `TLS application data records on the mesh hop: ${dataRecords}`);
    const meshWire = (await capturedTcpPayloads(capture.file, onMesh)).toString('latin1');
    const plainWire = (await capturedTcpPayloads(capture.file, `tcp.port == ${local}`)).toString(
      'latin1',
    );
    // HTTP/1.1 heads and message bodies are raw bytes on a cleartext wire.
    for (const clear of [paths[0] ?? '', `hdr-${marker}`, `body-${marker}`]) {
      assert.ok(plainWire.includes(clear), `"${clear}" is seen on the plaintext hop`);
    }
    // HTTP/2 headers are HPACK-coded: tshark decodes them (as HTTP/2 on the port).
    const http2Headers = async (port: number, text: string): Promise<number> =>
      countCaptured(capture.file, `tcp.port == ${port} && http2.header.value contains "${text}"`, [
        '-d',
        `tcp.port==${port},http2`,
      ]);
    for (const clear of [paths[1] ?? '', `grpc-${marker}`]) {
      assert.ok((await http2Headers(local, clear)) > 0, `"${clear}" is seen on the plaintext hop`);
      assert.equal(await http2Headers(mesh, clear), 0, `"${clear}" is not seen on the mTLS hop`);
    }
    for (const clear of [...paths, `hdr-${marker}`, `grpc-${marker}`, `body-${marker}`]) {
      assert.ok(!meshWire.includes(clear), `"${clear}" is not in the mTLS hop's bytes`);
    }
    assert.ok(!meshWire.includes('PRI * HTTP/2.0'), 'no cleartext HTTP/2 preface on the mTLS hop');
    assert.ok(!meshWire.includes('HTTP/1.1'), 'no cleartext HTTP/1.1 on the mTLS hop');
    assert.equal(await countCaptured(capture.file, `${onMesh} && (http || http2)`), 0);
  });
});
