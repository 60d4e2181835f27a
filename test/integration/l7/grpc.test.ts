/**
 * gRPC through the proxy with @grpc/grpc-js on both sides: replies, status
 * codes, messages and trailing metadata arrive intact; the caller's deadline
 * reaches the upstream (shortened to the route timeout) and is enforced;
 * UNAVAILABLE is retried when listed; server streams relay message by
 * message; many calls share one multiplexed HTTP/2 connection per endpoint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startProxy, type RunningProxy } from '../../helpers/l7-harness.js';

const identity = (value: Buffer): Buffer => value;

const echoService: grpc.ServiceDefinition = {
  echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  count: {
    path: '/test.Echo/Count',
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

interface EchoServer {
  readonly server: grpc.Server;
  readonly address: string;
  readonly name: string;
  calls: number;
  lastDeadline: grpc.Deadline | undefined;
  lastMetadata: grpc.Metadata | undefined;
}

/**
 * Echo answers its name and the request, with a trailer; requests starting
 * "fail:" answer PERMISSION_DENIED, "hang" never answers, and `unavailable`
 * servers answer UNAVAILABLE to everything.
 */
async function startEchoServer(name: string, unavailable = false): Promise<EchoServer> {
  const server = new grpc.Server();
  const state: EchoServer = {
    server,
    address: '',
    name,
    calls: 0,
    lastDeadline: undefined,
    lastMetadata: undefined,
  };
  server.addService(echoService, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      state.calls += 1;
      state.lastDeadline = call.getDeadline();
      state.lastMetadata = call.metadata;
      const text = call.request.toString();
      if (unavailable) {
        callback({ code: grpc.status.UNAVAILABLE, details: `${name} is draining` });
        return;
      }
      if (text === 'hang') return;
      if (text.startsWith('fail:')) {
        const metadata = new grpc.Metadata();
        metadata.set('x-reason', 'policy');
        callback({ code: grpc.status.PERMISSION_DENIED, details: text.slice(5), metadata });
        return;
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-served-by', name);
      trailer.set('x-binary-bin', Buffer.from([0, 1, 2, 255]));
      callback(null, Buffer.from(`${name}:${text}`), trailer);
    },
    count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const total = Number(call.request.toString());
      for (let i = 1; i <= total; i += 1) call.write(Buffer.from(`message ${i}`));
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    );
  });
  return Object.assign(state, { address: `127.0.0.1:${port}` });
}

interface CallResult {
  readonly error: grpc.ServiceError | null;
  readonly reply: string | undefined;
  readonly trailers: grpc.Metadata | undefined;
}

function callEcho(client: grpc.Client, text: string, deadlineMs = 5_000): Promise<CallResult> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = client.makeUnaryRequest(
      '/test.Echo/Echo',
      identity,
      identity,
      Buffer.from(text),
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error: grpc.ServiceError | null, reply?: Buffer) => {
        // 'status' (with the trailers) comes before the callback in grpc-js; wait a turn anyway.
        setImmediate(() => resolve({ error, reply: reply?.toString(), trailers }));
      },
    );
    call.on('status', (status: grpc.StatusObject) => {
      trailers = status.metadata;
    });
  });
}

/** The deadline (ms since the epoch) the upstream that served the last call saw; it must have one. */
function upstreamDeadline(servers: readonly EchoServer[]): number {
  // grpc-js gives a Date or a number (ms since the epoch; Infinity without a deadline).
  const deadline = servers
    .map((server) => server.lastDeadline)
    .map((value) => (value instanceof Date ? value.getTime() : value))
    .find((value) => value !== undefined);
  assert.ok(deadline !== undefined && Number.isFinite(deadline), 'the upstream saw no deadline');
  return deadline;
}

describe('HTTP proxy: gRPC', () => {
  let alpha: EchoServer;
  let beta: EchoServer;
  let draining: EchoServer;
  let proxy: RunningProxy;
  let client: grpc.Client;

  before(async () => {
    [alpha, beta, draining] = await Promise.all([
      startEchoServer('alpha'),
      startEchoServer('beta'),
      startEchoServer('draining', true),
    ]);
    proxy = await startProxy({
      listeners: [{ name: 'grpc', listen: '127.0.0.1:0', protocol: 'http2' }],
      routes: [
        {
          name: 'retried',
          match: { path: { prefix: '/test.Echo/' }, headers: [{ name: 'x-pool', exact: 'mixed' }] },
          action: {
            cluster: 'mixed',
            retries: { attempts: 2, on: ['unavailable'], backoff: { baseMs: 1, maxMs: 5 } },
          },
        },
        {
          // No route timeout (long streams): the caller's deadline alone applies.
          name: 'untimed',
          match: {
            path: { prefix: '/test.Echo/' },
            headers: [{ name: 'x-pool', exact: 'untimed' }],
          },
          // Retries give each attempt a per-try timer too, the caller's deadline by default.
          action: {
            cluster: 'echo',
            timeoutMs: 0,
            retries: { attempts: 1, on: ['unavailable'], backoff: { baseMs: 1, maxMs: 5 } },
          },
        },
        {
          name: 'echo',
          match: { path: { prefix: '/test.Echo/' } },
          action: { cluster: 'echo', timeoutMs: 400 },
        },
      ],
      clusters: [
        { name: 'echo', endpoints: [alpha.address, beta.address], http2: true },
        { name: 'mixed', endpoints: [draining.address, alpha.address], http2: true },
      ],
    });
    client = new grpc.Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    await proxy.close();
    for (const server of [alpha, beta, draining]) server.server.forceShutdown();
  });

  it('relays a unary reply with its trailing metadata and grpc-status 0', async () => {
    const result = await callEcho(client, 'hello');
    assert.equal(result.error, null);
    assert.match(result.reply ?? '', /^(alpha|beta):hello$/);
    const servedBy = String(result.trailers?.get('x-served-by')[0]);
    assert.equal(result.reply?.split(':')[0], servedBy);
    assert.deepEqual(result.trailers?.get('x-binary-bin')[0], Buffer.from([0, 1, 2, 255]));
  });

  it('relays an error status, its message and its metadata unchanged', async () => {
    const result = await callEcho(client, 'fail:not your account');
    assert.equal(result.error?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(result.error.details, 'not your account');
    assert.equal(result.error.metadata.get('x-reason')[0], 'policy');
  });

  it('propagates the deadline, cut to the route timeout, to the upstream', async () => {
    const before = Date.now();
    alpha.lastDeadline = undefined;
    beta.lastDeadline = undefined;
    await callEcho(client, 'deadline check', 5_000);
    const remaining = upstreamDeadline([alpha, beta]) - before;
    // The route timeout is 400 ms: shorter than the caller's 5 s, so it wins.
    assert.ok(remaining > 200 && remaining <= 450, `upstream deadline was ${remaining} ms away`);
  });

  it('waits out a deadline of days on a route without a timeout, and passes it on in 8 digits', async () => {
    const untimed = (deadlineMs: number): Promise<string> => {
      const metadata = new grpc.Metadata();
      metadata.set('x-pool', 'untimed');
      return new Promise<string>((resolve, reject) => {
        client.makeUnaryRequest(
          '/test.Echo/Echo',
          identity,
          identity,
          Buffer.from('long deadline'),
          metadata,
          { deadline: Date.now() + deadlineMs },
          (error: grpc.ServiceError | null, answer?: Buffer) => {
            if (error === null) resolve(answer?.toString() ?? '');
            else reject(error);
          },
        );
      });
    };
    const dayMs = 24 * 3_600_000;
    // 30 days: more than setTimeout takes (2^31 ms), which runs a longer one
    // after 1 ms. (grpc-js's server keeps such a deadline wrapped, so only the
    // answer is checked here.)
    assert.match(await untimed(30 * dayMs), /^(alpha|beta):long deadline$/);
    // 2 days: more than 8 digits of milliseconds, so it goes upstream in seconds.
    alpha.lastDeadline = undefined;
    beta.lastDeadline = undefined;
    const before = Date.now();
    assert.match(await untimed(2 * dayMs), /^(alpha|beta):long deadline$/);
    const remaining = upstreamDeadline([alpha, beta]) - before;
    assert.ok(
      remaining > 2 * dayMs - 60_000 && remaining <= 2 * dayMs + 1_000,
      `upstream deadline was ${remaining} ms away`,
    );
  });

  it('answers DEADLINE_EXCEEDED itself when the upstream outlasts the deadline', async () => {
    const started = Date.now();
    const result = await callEcho(client, 'hang', 5_000);
    assert.equal(result.error?.code, grpc.status.DEADLINE_EXCEEDED);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 2_000, `answered after ${elapsed} ms`);
  });

  it('retries UNAVAILABLE when the route lists it', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-pool', 'mixed');
    for (let i = 0; i < 6; i += 1) {
      const reply = await new Promise<string>((resolve, reject) => {
        client.makeUnaryRequest(
          '/test.Echo/Echo',
          identity,
          identity,
          Buffer.from(`r${i}`),
          metadata,
          { deadline: Date.now() + 5_000 },
          (error: grpc.ServiceError | null, value?: Buffer) =>
            error === null ? resolve(value?.toString() ?? '') : reject(error),
        );
      });
      assert.equal(reply, `alpha:r${i}`);
    }
    assert.ok(draining.calls >= 3, 'the draining endpoint was tried');
  });

  it('answers UNIMPLEMENTED for a method no route matches', async () => {
    const result = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        '/other.Service/Call',
        identity,
        identity,
        Buffer.from('x'),
        (error: grpc.ServiceError | null) => resolve(error),
      );
    });
    assert.equal(result?.code, grpc.status.UNIMPLEMENTED);
  });

  it('relays a server stream message by message', async () => {
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.makeServerStreamRequest(
        '/test.Echo/Count',
        identity,
        identity,
        Buffer.from('50'),
      );
      stream.on('data', (message: Buffer) => messages.push(message.toString()));
      stream.on('status', (status: grpc.StatusObject) =>
        status.code === grpc.status.OK ? resolve() : reject(new Error(status.details)),
      );
      stream.on('error', reject);
    });
    assert.equal(messages.length, 50);
    assert.equal(messages[49], 'message 50');
  });

  it('multiplexes concurrent calls over one HTTP/2 connection per endpoint', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => callEcho(client, `m${i}`)),
    );
    assert.ok(results.every((result) => result.error === null));
    assert.equal(
      await proxy.metric('streammesh_http_upstream_connections', { cluster: 'echo' }),
      2,
    );
  });
});
