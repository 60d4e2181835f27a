/**
 * The downstream side of a request, whichever protocol it came in on: node's
 * HTTP/1.1 server and the HTTP/2 exchange on node's stream API
 * (h2-exchange.ts) give the same shape of head, and these helpers cover the
 * few places they differ (where the body is read from and written to, the
 * connection's facts, how an exchange is cut).
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import { constants as h2 } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { GrpcStatus, grpcMessage, grpcStatusForHttp } from '../grpc.js';
import type { DownstreamFacts } from '../headers.js';
import { Http2Request, Http2Response } from './h2-exchange.js';

export type DownstreamRequest = IncomingMessage | Http2Request;
export type DownstreamResponse = ServerResponse | Http2Response;

/** Where the request body is read: node:http's request, or the HTTP/2 stream itself. */
export function requestBodyOf(req: DownstreamRequest): Readable {
  return req instanceof Http2Request ? req.stream : req;
}

/**
 * Where a relayed response body is written, once the head has gone:
 * node:http's response, or the HTTP/2 stream itself. (The answer to HEAD, a
 * 204 or a 304 has no body to write: node's HTTP/1.1 client and nghttp2
 * read none.)
 */
export function responseBodyOf(res: DownstreamResponse): Writable {
  return res instanceof Http2Response ? res.stream : res;
}

/** An HTTP/1.1 Upgrade request's connection, which node:http handed over with the request. */
export interface DownstreamUpgrade {
  readonly socket: Socket;
  /** What the client sent past the request head (node:http already read it). */
  readonly head: Buffer;
}

/**
 * The response to an HTTP/1.1 Upgrade request, written straight to the
 * socket node:http handed over (its parser is gone). A 101 leaves the socket
 * to the tunnel; any other answer ends the connection. 'close' is emitted as
 * node's server does for its own responses: after 'finish', or when the
 * socket closes first.
 */
export function upgradeResponse(req: IncomingMessage, socket: Socket): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once('finish', () => {
    res.detachSocket(socket);
    if (res.statusCode !== 101) {
      // What the client still sends is read and dropped: closing with unread
      // input makes the kernel send a reset, which can destroy the answer
      // before the client has read it.
      socket.on('data', () => undefined);
      socket.resume();
      socket.end();
    }
    process.nextTick(() => res.emit('close'));
  });
  return res;
}

/** Set on HTTP/2 sessions whose socket is wrapped (the wrapper hides the peer address). */
export const CLIENT_ADDRESS = Symbol('streammesh.clientAddress');

export function clientAddressOf(req: DownstreamRequest): string | undefined {
  if (req instanceof Http2Request) {
    const session = req.session as { [CLIENT_ADDRESS]?: string } | undefined;
    const address = session?.[CLIENT_ADDRESS];
    if (address !== undefined) return address;
  }
  return req.socket?.remoteAddress;
}

/**
 * Set on a mesh listener's decrypted connection (HTTP/1.1) or HTTP/2 session:
 * the SPIFFE ID its client certificate was verified to name.
 */
export const PEER_IDENTITY = Symbol('streammesh.peerIdentity');

/** The peer's SPIFFE ID verified by mutual TLS; undefined on any other connection. */
export function peerIdentityOf(req: DownstreamRequest): string | undefined {
  if (req instanceof Http2Request) {
    const session = req.session as { [PEER_IDENTITY]?: string } | undefined;
    return session?.[PEER_IDENTITY];
  }
  return (req.socket as { [PEER_IDENTITY]?: string } | null)?.[PEER_IDENTITY];
}

/** Set on an HTTP/2 session over TLS (its socket may be a frame guard, which hides that). */
export const ENCRYPTED = Symbol('streammesh.encrypted');

/** Whether the request came over TLS (for X-Forwarded-Proto). */
export function isEncrypted(req: DownstreamRequest): boolean {
  if (req instanceof Http2Request) {
    return (req.session as { [ENCRYPTED]?: boolean } | undefined)?.[ENCRYPTED] === true;
  }
  return (req.socket as { encrypted?: boolean } | null)?.encrypted === true;
}

/** The facts of the connection a request came on, for the headers sent upstream. */
export function downstreamFacts(req: DownstreamRequest): DownstreamFacts {
  return {
    clientAddress: clientAddressOf(req),
    encrypted: isEncrypted(req),
    peerIdentity: peerIdentityOf(req),
  };
}

/**
 * True when the request has no body to relay: HTTP/2, its HEADERS frame
 * carried END_STREAM; HTTP/1.1, it has neither Content-Length nor
 * Transfer-Encoding (RFC 9112 section 6.3), or Content-Length 0. Such a
 * request's upstream body is ended at once rather than piped.
 */
export function hasNoBody(req: DownstreamRequest): boolean {
  if (req instanceof Http2Request) return req.stream.endAfterHeaders;
  const { headers } = req;
  if (headers['transfer-encoding'] !== undefined) return false;
  const length = headers['content-length'];
  return length === undefined || length === '0';
}

export function authorityOf(req: DownstreamRequest): string {
  const value = req.headers[':authority'] ?? req.headers.host;
  return typeof value === 'string' ? value : '';
}

export function protocolOf(req: DownstreamRequest): 'HTTP/1.1' | 'HTTP/2' | 'HTTP/1.0' {
  if (req.httpVersion === '2.0') return 'HTTP/2';
  return req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
}

/** Ends the exchange abruptly: HTTP/2 resets the stream, HTTP/1.1 closes the connection. */
export function resetDownstream(res: DownstreamResponse): void {
  if (res instanceof Http2Response) {
    if (!res.stream.destroyed) res.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
  } else {
    res.destroy();
  }
}

/**
 * An answer from the proxy itself. gRPC callers get a Trailers-Only response
 * (HTTP 200 with grpc-status in one HEADERS frame, PROTOCOL-HTTP2.md) so their
 * library reports a gRPC status; others get the status and a line of text.
 */
export function localReply(
  res: DownstreamResponse,
  status: number,
  message: string,
  grpc: { readonly status?: number } | undefined,
): void {
  if (res.headersSent) {
    resetDownstream(res);
    return;
  }
  if (grpc !== undefined) {
    res.statusCode = 200;
    res.setHeader('content-type', 'application/grpc');
    res.setHeader('grpc-status', String(grpc.status ?? grpcStatusForHttp(status)));
    res.setHeader('grpc-message', grpcMessage(message));
    res.end();
    return;
  }
  const body = `${message}\n`;
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

export { GrpcStatus };
