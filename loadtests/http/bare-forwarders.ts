/**
 * The bare Node proxy's forwarders: what Node's own HTTP stacks do with no
 * proxy logic at all (no routing table, no header policy, no frame guard,
 * no metrics). bare-proxy.ts runs them in a process of their own (bench:http's
 * bare-node target); path-cost.ts beside streammesh's listeners in one
 * thread.
 *
 *   HTTP/1.1  node:http server -> http.request over a keep-alive agent, piped
 *   HTTP/2    node:http2 server (h2c) -> one http2 session to the backend,
 *   gRPC      each stream forwarded with its headers, body and trailers
 */
import { Agent, createServer, request, type Server } from 'node:http';
import {
  connect,
  constants,
  createServer as createH2Server,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** HTTP/1.1 to the backend on 127.0.0.1:`backendPort`: a pooled keep-alive connection per concurrent request. */
export function bareHttp1Server(backendPort: number): Server {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  return createServer((incoming, outgoing) => {
    const upstream = request(
      {
        host: '127.0.0.1',
        port: backendPort,
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
}

/** HTTP/2 (h2c) and gRPC: every downstream stream becomes a stream on one upstream session. */
export function bareHttp2Server(backendPort: number): Http2Server {
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
  const server = createH2Server();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
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
  });
  return server;
}
