/**
 * TLS on an L7 listener, between the accepted TCP connection and the HTTP
 * servers: a node:tls server that never listens (the listener's own TCP
 * port hands it each admitted connection) does the handshake, then the
 * decrypted socket goes to the HTTP/1.1 or HTTP/2 server by ALPN.
 *
 * - mode "mesh": the node's workload certificate is presented, a client
 *   certificate verified against the mesh trust bundle is required, and the
 *   client must name exactly one SPIFFE ID of the mesh's trust domain
 *   (peerIdentity()); that identity travels with the connection to
 *   authorization and to the upstream header. A client certificate on the
 *   mesh's revocation list (pushed with the trust bundle) is refused like
 *   an untrusted one, and counted apart; a connection already open is
 *   closed when the list that revokes its certificate arrives (an HTTP/2
 *   client never idles). A renewal swaps the context
 *   for the next handshake only (setSecureContext): open connections keep
 *   theirs.
 * - mode "server": a certificate from files for clients outside the mesh;
 *   no client certificate, no identity.
 *
 * Whatever fails the handshake (plaintext, garbage, an expired, foreign or
 * self-signed certificate, no certificate, silence after a ClientHello past
 * the listener's headersTimeoutMs) is dropped and counted by a reason from a
 * fixed set, never logged per connection.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Server as TlsServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { HttpListenerConfig, RefusedResource } from '../../../src/config/index.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import {
  isRevokedCertificate,
  peerIdentity,
  type PeerIdentity,
} from '../../../src/shared/identity/index.js';
import type { MeshCredentials, MeshTlsMaterial } from '../../../src/shared/identity/index.js';

type ListenerTls = NonNullable<HttpListenerConfig['tls']>;

/** A TLS listener that cannot be set up: refuses the config naming the listener. */
export class ListenerTlsError extends StreammeshError {
  readonly resources: readonly RefusedResource[];
  constructor(config: HttpListenerConfig, reason: string, cause?: unknown) {
    super('ERR_HTTP_LISTENER_TLS', `proxy.http.listeners ${config.name} tls: ${reason}`, {
      cause,
    });
    this.resources = [{ type: 'HTTP_LISTENER', name: config.name }];
  }
}

/** A handshake that succeeded: the decrypted socket, the TCP one under it, and the peer's identity. */
export interface SecuredConnection {
  readonly socket: TLSSocket;
  readonly raw: Socket | undefined;
  /** Set on a mesh listener (always: a peer without one is refused). */
  readonly identity: PeerIdentity | undefined;
}

export interface TlsTerminationOptions {
  readonly config: HttpListenerConfig;
  readonly credentials: MeshCredentials | undefined;
  readonly onSecure: (connection: SecuredConnection) => void;
  /** A connection dropped during or right after its handshake, with why. */
  readonly onRefused: (reason: string) => void;
}

/** ALPN ids offered for each listener protocol (RFC 7301; "h2" is HTTP/2 over TLS). */
const ALPN: Readonly<Record<HttpListenerConfig['protocol'], string[]>> = {
  http1: ['http/1.1'],
  http2: ['h2'],
  auto: ['h2', 'http/1.1'],
};

export class TlsTermination {
  readonly #server: TlsServer;
  readonly #mode: ListenerTls['mode'];
  readonly #credentials: MeshCredentials | undefined;
  readonly #unwatch: () => void;
  readonly #handshakeTimeoutMs: number;
  /** Connections in their handshake, with the timer that ends them. */
  readonly #handshakes = new Map<Socket, NodeJS.Timeout>();
  /** Connections this side ended (timed out): their resulting errors are not counted again. */
  readonly #ended = new WeakSet<Socket>();
  /** Open mesh connections, with their client certificate: re-checked when the revocation list changes. */
  readonly #open = new Map<TLSSocket, PeerCertificate>();
  readonly #onRefused: (reason: string) => void;

  constructor(tls: ListenerTls, options: TlsTerminationOptions) {
    const { config } = options;
    this.#mode = tls.mode;
    this.#credentials = options.credentials;
    this.#onRefused = options.onRefused;
    // A ClientHello and then silence holds no slot for longer than a slow request head may.
    this.#handshakeTimeoutMs = config.headersTimeoutMs;
    const context = serverContext(tls, options);
    this.#server = new TlsServer({
      ...context,
      minVersion: tls.mode === 'mesh' ? 'TLSv1.3' : 'TLSv1.2',
      // The client certificate is checked in #secured, before a byte of the
      // connection is read: node's own refusal (rejectUnauthorized) closes it
      // silently, and the refusal could not be counted by reason.
      requestCert: tls.mode === 'mesh',
      rejectUnauthorized: false,
      ALPNProtocols: ALPN[config.protocol],
    });
    this.#server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      const raw = rawSocketOf(socket);
      if (raw !== undefined && this.#ended.has(raw)) return;
      if (raw !== undefined) this.#settle(raw);
      options.onRefused(refusalReason(error));
    });
    this.#server.on('secureConnection', (socket: TLSSocket) => {
      this.#secured(socket, options);
    });
    this.#unwatch =
      tls.mode === 'mesh' && options.credentials !== undefined
        ? options.credentials.onChange((material) => {
            this.#server.setSecureContext(material.options);
            this.#closeRevoked(material);
          })
        : () => undefined;
  }

  /** Starts the handshake on an admitted connection, bounded by the handshake timeout. */
  accept(socket: Socket): void {
    const timer = setTimeout(() => {
      this.#handshakes.delete(socket);
      this.#ended.add(socket);
      this.#onRefused('tls_handshake_timeout');
      socket.destroy();
    }, this.#handshakeTimeoutMs);
    this.#handshakes.set(socket, timer);
    socket.once('close', () => this.#settle(socket));
    this.#server.emit('connection', socket);
  }

  close(): void {
    this.#unwatch();
    this.#open.clear();
    for (const timer of this.#handshakes.values()) clearTimeout(timer);
    this.#handshakes.clear();
  }

  #closeRevoked(material: MeshTlsMaterial): void {
    for (const [socket, certificate] of this.#open) {
      if (!isRevokedCertificate(certificate, material.revoked)) continue;
      this.#open.delete(socket);
      this.#onRefused('tls_client_certificate_revoked');
      socket.destroy();
    }
  }

  /** The handshake of `raw` is over (done, failed, or the connection closed). */
  #settle(raw: Socket): void {
    clearTimeout(this.#handshakes.get(raw));
    this.#handshakes.delete(raw);
  }

  #secured(socket: TLSSocket, options: TlsTerminationOptions): void {
    socket.on('error', () => socket.destroy());
    const raw = rawSocketOf(socket);
    if (raw !== undefined) this.#settle(raw);
    if (this.#mode !== 'mesh') {
      options.onSecure({ socket, raw, identity: undefined });
      return;
    }
    if (!socket.authorized) {
      options.onRefused(clientCertificateRefusal(socket));
      socket.destroy();
      return;
    }
    const material = this.#credentials?.current;
    const certificate = socket.getPeerCertificate();
    if (material !== undefined && isRevokedCertificate(certificate, material.revoked)) {
      options.onRefused('tls_client_certificate_revoked');
      socket.destroy();
      return;
    }
    const identity =
      material === undefined ? undefined : peerIdentity(certificate, material.trustDomain);
    if (identity === undefined) {
      // Verified by a root we trust, but naming no mesh identity of our trust domain.
      options.onRefused('tls_no_mesh_identity');
      socket.destroy();
      return;
    }
    this.#open.set(socket, certificate);
    socket.once('close', () => this.#open.delete(socket));
    options.onSecure({ socket, raw, identity });
  }
}

function serverContext(
  tls: ListenerTls,
  options: TlsTerminationOptions,
): MeshTlsMaterial['options'] | { readonly key: Buffer; readonly cert: Buffer } {
  const { config } = options;
  if (tls.mode === 'mesh') {
    const material = options.credentials?.current;
    if (material === undefined) {
      throw new ListenerTlsError(
        config,
        'mode "mesh" needs the node\'s workload certificate, and this node has none (controlPlane.mtls off, or not issued yet)',
      );
    }
    return material.options;
  }
  try {
    return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
  } catch (error) {
    // The path is configuration, not a secret; the file's contents never appear.
    throw new ListenerTlsError(config, `cannot read certFile or keyFile: ${errorMessage(error)}`);
  }
}

/**
 * The TCP socket a server-side TLSSocket wraps. node keeps it as `_parent`
 * (stable since node 0.11, but not documented): the head deadline is kept
 * under it, and the first request over TLS must be able to meet it.
 */
function rawSocketOf(socket: TLSSocket): Socket | undefined {
  const parent = (socket as { _parent?: unknown })._parent;
  return parent !== null && typeof parent === 'object' ? (parent as Socket) : undefined;
}

/** Why a client certificate was not verified, as one of a few labels. */
function clientCertificateRefusal(socket: TLSSocket): string {
  const certificate = socket.getPeerCertificate();
  if (Object.keys(certificate).length === 0) return 'tls_no_client_certificate';
  const code = String(socket.authorizationError);
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return 'tls_client_certificate_expired';
  }
  return 'tls_client_certificate_untrusted';
}

/** Why a handshake failed, as one of a few labels (never the peer's text). */
function refusalReason(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'tls_handshake_timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'tls_reset';
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
  if (code === 'ERR_SSL_NO_APPLICATION_PROTOCOL') return 'tls_no_application_protocol';
  return 'tls_handshake_failed';
}
