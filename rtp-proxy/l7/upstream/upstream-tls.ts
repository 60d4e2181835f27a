/**
 * Mutual TLS to a mesh cluster's endpoints, the client side of a
 * proxy-to-proxy hop (Linkerd's and Istio's sidecars do the same): each new
 * connection presents the node's workload certificate as it is now (a
 * renewal reaches the next connection; pooled ones keep theirs), verifies
 * the endpoint against the mesh trust bundle, and accepts it only if its
 * certificate names a SPIFFE ID of the trust domain, one of `spiffeIds`
 * when the cluster lists them. Mesh certificates name no host, so the SPIFFE
 * ID replaces the host name check. An endpoint whose certificate is on the
 * mesh's revocation list is refused like one naming the wrong identity.
 *
 * A handshake that fails is told apart from a refused TCP connect: the
 * error is marked with why (tlsFailureOf), so the request is answered 503
 * and counted by reason rather than reported as an ordinary connect failure.
 */
import { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { HttpClusterConfig } from '../../../src/config/index.js';
import {
  isRevokedCertificate,
  spiffeServerIdentityCheck,
  type RevokedSerials,
} from '../../../src/shared/identity/index.js';
import type { MeshCredentials } from '../../../src/shared/identity/index.js';
import type { HostPort } from '../../../src/shared/address.js';

export type TlsFailure = 'server_identity' | 'certificate' | 'no_certificate' | 'handshake';

const TLS_FAILURE = Symbol('streammesh.upstreamTlsFailure');

/** Why a connection's TLS failed, when `error` is such a failure; undefined otherwise. */
export function tlsFailureOf(error: unknown): TlsFailure | undefined {
  return error !== null && typeof error === 'object'
    ? (error as { [TLS_FAILURE]?: TlsFailure })[TLS_FAILURE]
    : undefined;
}

/**
 * Error codes of TLS itself: OpenSSL's (ERR_SSL_*), node's (ERR_TLS_*) and
 * X.509 verification's (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE,
 * DEPTH_ZERO_SELF_SIGNED_CERT...). A refused or reset TCP connect is none.
 */
const TLS_ERROR = /^ERR_(SSL|TLS)_|CERT|UNABLE_TO_|SELF_SIGNED|INVALID_CA|INVALID_PURPOSE/;

/** Opens one connection to an endpoint, offering these ALPN protocols. */
export type UpstreamConnector = (target: HostPort, alpn: readonly string[]) => Socket;

/** The mesh cluster's connector; undefined for a cluster without tls (plain TCP). */
export function meshConnector(
  tls: HttpClusterConfig['tls'],
  credentials: MeshCredentials | undefined,
): UpstreamConnector | undefined {
  if (tls === undefined) return undefined;
  const accepted = tls.spiffeIds === undefined ? undefined : new Set(tls.spiffeIds);
  return (target, alpn) => {
    const material = credentials?.current;
    if (material === undefined) return failedSocket(target);
    const socket = tlsConnect({
      host: target.host,
      port: target.port,
      secureContext: material.context,
      ALPNProtocols: [...alpn],
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      checkServerIdentity: markIdentityFailure(
        refuseRevoked(
          material.revoked,
          spiffeServerIdentityCheck(
            material.trustDomain,
            (identity) => accepted === undefined || accepted.has(identity.spiffeId),
          ),
        ),
      ),
    });
    // Many small requests share a connection: send them at once, not after an ACK (Nagle).
    socket.setNoDelay(true);
    markHandshakeErrors(socket);
    return socket;
  };
}

/** `check`, after refusing a server certificate that is revoked. */
function refuseRevoked(
  revoked: RevokedSerials,
  check: ReturnType<typeof spiffeServerIdentityCheck>,
): ReturnType<typeof spiffeServerIdentityCheck> {
  return (host, certificate) =>
    isRevokedCertificate(certificate, revoked)
      ? new Error('the server certificate is revoked')
      : check(host, certificate);
}

function markIdentityFailure(
  check: ReturnType<typeof spiffeServerIdentityCheck>,
): ReturnType<typeof spiffeServerIdentityCheck> {
  return (host, certificate) => {
    const error = check(host, certificate);
    if (error !== undefined) mark(error, 'server_identity');
    return error;
  };
}

/**
 * Marks an error before the handshake completed as a TLS failure. This
 * listener is the socket's first, so the mark is there when the HTTP client
 * (which listens later) reads the same error object.
 */
function markHandshakeErrors(socket: TLSSocket): void {
  let secure = false;
  socket.once('secureConnect', () => {
    secure = true;
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    const code = error.code ?? '';
    if (secure || !TLS_ERROR.test(code) || tlsFailureOf(error) !== undefined) return;
    mark(error, isCertificateError(code) ? 'certificate' : 'handshake');
  });
}

function isCertificateError(code: string): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_|ISSUER|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA/.test(code);
}

function mark(error: Error, failure: TlsFailure): void {
  (error as { [TLS_FAILURE]?: TlsFailure })[TLS_FAILURE] = failure;
}

/**
 * A socket that never connects and fails at once: this node has no
 * certificate to present (a cluster is refused at prepare then; this is
 * only a guard).
 */
function failedSocket(target: HostPort): Socket {
  const socket = new Socket();
  const error = new Error(`no workload certificate to present to ${target.host}:${target.port}`);
  mark(error, 'no_certificate');
  process.nextTick(() => socket.destroy(error));
  return socket;
}
