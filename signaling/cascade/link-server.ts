/**
 * The cascade link listener (signaling.cascade.listen): other signaling
 * nodes connect here to carry room events (issue 18).
 *
 * With workload identities it is HTTPS with TLS 1.3 and a client
 * certificate required, presenting the node's workload certificate and
 * trusting the mesh bundle; a renewal reaches the next handshake (open
 * links keep theirs). The client certificate is checked as soon as the
 * handshake is done, before a byte of HTTP is read (link-peer-check.ts):
 * node's own refusal (rejectUnauthorized) would close the socket silently,
 * and the refusal could not be counted by reason. Without identities it is
 * plain HTTP (tests only; see link-peer-check.ts).
 *
 * Then one WebSocket upgrade on LINK_PATH with the link's subprotocol. The
 * links decide whether to take it before the 101 is sent (a second link
 * from a node that already has one is answered 409), so a dialer that is
 * told no never sees its link open and close.
 *
 * Budgets: connections in total and per source address, and a head
 * deadline covering the TLS handshake and the upgrade (ConnectionBudget,
 * listener "cascade"); a link is one per peer node, so the limits are small.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { HostPort } from '../../src/shared/address.js';
import { ConnectionBudget, type HeadDeadline } from '../../src/shared/connection-budget.js';
import type { MeshCredentials } from '../../src/shared/identity/index.js';
import type { Logger } from '../../src/shared/log.js';
import { MAX_LINK_FRAME_BYTES } from './link-connection.js';
import { NoWorkloadCertificateError } from './link-errors.js';
import { LINK_SUBPROTOCOL } from './link-messages.js';
import type { LinkMetrics, LinkRefusal } from './link-metrics.js';
import {
  checkClientCertificate,
  checkPlaintextClient,
  type LinkPeerLookup,
  type PeerVerdict,
} from './link-peer-check.js';

export const LINK_PATH = '/cascade';

/** Peer nodes are few: these bound a flood, not normal use. */
export const LINK_LISTENER_BUDGET = {
  maxConnections: 256,
  maxPerSource: 16,
  headTimeoutMs: 5_000,
} as const;

export interface LinkServerOptions {
  readonly listen: HostPort;
  readonly ownNode: string;
  /** undefined: plaintext (no workload identity; tests only). */
  readonly credentials: MeshCredentials | undefined;
  readonly lookup: LinkPeerLookup;
  readonly metrics: LinkMetrics;
  readonly registry: Registry;
  readonly log: Logger;
  /** Whether a link from `node` may open now (false: it would be a duplicate). */
  readonly admits: (node: string) => boolean;
  /** A link from `node` is open. */
  readonly onLink: (node: string, socket: WebSocket) => void;
}

export class LinkServer {
  readonly #options: LinkServerOptions;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #budget: ConnectionBudget;
  /** Deadlines of connections not yet upgraded, by the socket HTTP sees (TLS or TCP). */
  readonly #deadlines = new WeakMap<Duplex, HeadDeadline>();
  /** TLS clients whose certificate passed: the node each one is. */
  readonly #authenticated = new WeakMap<Duplex, string>();
  readonly #unwatch: () => void;

  constructor(options: LinkServerOptions) {
    this.#options = options;
    this.#budget = new ConnectionBudget('cascade', LINK_LISTENER_BUDGET, options.registry);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_LINK_FRAME_BYTES,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(LINK_SUBPROTOCOL) ? LINK_SUBPROTOCOL : false),
    });
    const { credentials } = options;
    const material = credentials?.current;
    if (credentials !== undefined && material === undefined) {
      throw new NoWorkloadCertificateError();
    }
    if (credentials === undefined || material === undefined) {
      this.#server = createHttpServer();
      this.#server.on('connection', (socket: Socket) => {
        this.#admit(socket, socket);
      });
      this.#unwatch = () => undefined;
    } else {
      const server = createHttpsServer({
        ...material.options,
        minVersion: 'TLSv1.3',
        requestCert: true,
        rejectUnauthorized: false,
        handshakeTimeout: LINK_LISTENER_BUDGET.headTimeoutMs,
      });
      server.on('connection', (socket: Socket) => {
        this.#budget.admit(socket);
      });
      server.on('tlsClientError', (error: NodeJS.ErrnoException) => {
        options.metrics.refused(handshakeRefusal(error));
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        this.#secured(socket, credentials);
      });
      this.#unwatch = credentials.onChange((next) => {
        server.setSecureContext(next.options);
      });
      this.#server = server;
    }
    this.#server.on('request', (request: IncomingMessage, response) => {
      // Only the upgrade is served here.
      response.writeHead(426, { connection: 'close', upgrade: 'websocket' }).end();
    });
    this.#server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#upgrade(request, socket, head);
    });
  }

  listen(): Promise<HostPort> {
    const { host, port } = this.#options.listen;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address() as AddressInfo;
        resolve({ host, port: address.port });
      });
    });
  }

  /** Stops listening; open links are the caller's to close. */
  close(): Promise<void> {
    this.#unwatch();
    this.#wss.close();
    return new Promise((resolve) => {
      this.#server.close(() => {
        resolve();
      });
      this.#server.closeAllConnections();
    });
  }

  /** A TCP (plaintext) connection: budget, and a deadline for its upgrade. */
  #admit(raw: Socket, httpSocket: Socket): void {
    if (!this.#budget.admit(raw)) return;
    this.#deadlines.set(httpSocket, this.#budget.headDeadline(httpSocket));
  }

  #secured(socket: TLSSocket, credentials: MeshCredentials): void {
    socket.on('error', () => socket.destroy());
    const material = credentials.current;
    const verdict: PeerVerdict =
      material === undefined
        ? { ok: false, reason: 'tls_no_mesh_identity' }
        : checkClientCertificate(socket, material, this.#options.ownNode, this.#options.lookup);
    if (!verdict.ok) {
      this.#refuse(verdict.reason, socket);
      return;
    }
    this.#authenticated.set(socket, verdict.node);
    this.#deadlines.set(socket, this.#budget.headDeadline(socket));
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { ownNode, lookup } = this.#options;
    let node: string;
    if (this.#options.credentials === undefined) {
      const verdict = checkPlaintextClient(request, ownNode, lookup);
      if (!verdict.ok) {
        this.#refuse(verdict.reason, socket, 403);
        return;
      }
      node = verdict.node;
    } else {
      const authenticated = this.#authenticated.get(socket);
      if (authenticated === undefined) {
        socket.destroy();
        return;
      }
      node = authenticated;
    }
    const path = (request.url ?? '').split('?')[0];
    const protocols = (request.headers['sec-websocket-protocol'] ?? '').split(/\s*,\s*/);
    if (path !== LINK_PATH || !protocols.includes(LINK_SUBPROTOCOL)) {
      this.#refuse('bad_request', socket, 400);
      return;
    }
    // Checked again when the link opens: the decision and the 101 happen in one turn.
    if (!this.#options.admits(node)) {
      this.#refuse('duplicate', socket, 409);
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      this.#deadlines.get(socket)?.met();
      this.#options.log.debug({ node }, 'cascade link accepted');
      this.#options.onLink(node, ws);
    });
  }

  #refuse(reason: LinkRefusal, socket: Duplex, status?: number): void {
    this.#options.metrics.refused(reason);
    if (status !== undefined && socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    socket.destroy();
  }
}

/** Why a TLS handshake failed, as one of a few labels (never the peer's text). */
function handshakeRefusal(error: NodeJS.ErrnoException): LinkRefusal {
  const code = error.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'tls_handshake_timeout';
  if (
    code === 'ERR_SSL_HTTP_REQUEST' ||
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' ||
    code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    code === 'ERR_SSL_RECORD_LENGTH_MISMATCH' ||
    code === 'ERR_SSL_UNKNOWN_PROTOCOL'
  ) {
    return 'tls_not_tls';
  }
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'tls_no_client_certificate';
  if (/CERTIFICATE|CERT_|SELF_SIGNED|UNABLE_TO_|ISSUER/.test(code)) {
    return 'tls_client_certificate_untrusted';
  }
  return 'tls_handshake_failed';
}
