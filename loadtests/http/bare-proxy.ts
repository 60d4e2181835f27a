/**
 * The bare Node proxy of bench:http: what Node's own HTTP stacks do with no
 * proxy logic at all (no routing table, no header policy, no frame guard,
 * no metrics), the floor streammesh's L7 path is measured against (issue
 * 20: max requests/s per core >= 0.9x this).
 *
 *   HTTP/1.1  node:http server -> http.request over a keep-alive agent, piped
 *   HTTP/2    node:http2 server (h2c) -> one http2 session to the backend,
 *   gRPC      each stream forwarded with its headers, body and trailers
 *
 * Usage (a child process of run.ts): node bare-proxy.js '{"listeners":
 * {"http1":P,"http2":P,"grpc":P},"backends":{"http1":P,"http2":P,"grpc":P}}'
 * Prints "ready" on stdout once listening; ends on SIGTERM or after its
 * lifetime (30 minutes). One process, one JavaScript thread.
 */
import { Agent, createServer, request } from 'node:http';
import {
  connect,
  constants,
  createServer as createH2Server,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';

interface Config {
  readonly listeners: Readonly<Record<'http1' | 'http2' | 'grpc', number>>;
  readonly backends: Readonly<Record<'http1' | 'http2' | 'grpc', number>>;
}

const LIFETIME_MS = 30 * 60_000;
const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

// HTTP/1.1: a pooled keep-alive connection per concurrent request.
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const http1 = createServer((incoming, outgoing) => {
  const upstream = request(
    {
      host: '127.0.0.1',
      port: config.backends.http1,
      method: incoming.method,
      path: incoming.url,
      headers: incoming.headers,
      agent,
    },
    (response) => {
      outgoing.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(outgoing);
    },
  );
  upstream.on('error', () => {
    if (!outgoing.headersSent) outgoing.writeHead(502);
    outgoing.end();
  });
  incoming.pipe(upstream);
});

/** HTTP/2 and gRPC: every downstream stream becomes a stream on one upstream session. */
function h2Forwarder(backendPort: number) {
  let session: ClientHttp2Session | undefined;
  const upstreamSession = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      const fresh = connect(`http://127.0.0.1:${backendPort}`);
      fresh.on('error', () => undefined);
      fresh.on('close', () => {
        if (session === fresh) session = undefined;
      });
      session = fresh;
    }
    return session;
  };
  return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    const forwarded: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!HOP_BY_HOP.has(name) && value !== undefined) forwarded[name] = value;
    }
    const upstream = upstreamSession().request(forwarded);
    upstream.on('response', (response) => {
      const answer: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(response)) {
        if (!HOP_BY_HOP.has(name) && value !== undefined) answer[name] = value;
      }
      if (!stream.destroyed) stream.respond(answer, { waitForTrailers: true });
    });
    let trailers: OutgoingHttpHeaders = {};
    upstream.on('trailers', (received: IncomingHttpHeaders) => {
      trailers = { ...received };
    });
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    upstream.on('error', () => stream.close(constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => upstream.close(constants.NGHTTP2_CANCEL));
    stream.pipe(upstream);
    upstream.pipe(stream);
  };
}

const http2 = createH2Server();
http2.on('stream', h2Forwarder(config.backends.http2));
const grpc = createH2Server();
grpc.on('stream', h2Forwarder(config.backends.grpc));

const servers = [
  [http1, config.listeners.http1],
  [http2, config.listeners.http2],
  [grpc, config.listeners.grpc],
] as const;
let listening = 0;
for (const [server, port] of servers) {
  server.listen(port, '127.0.0.1', () => {
    listening++;
    if (listening === servers.length) process.stdout.write('ready\n');
  });
}

const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, LIFETIME_MS).unref();
