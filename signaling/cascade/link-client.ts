/**
 * Dialing a peer node's cascade link: one WebSocket connection to the link
 * address its SIGNALING_NODE entry names, resolved once the peer has taken
 * it (101), or failed with why (a LinkDialFailure, for the count and the
 * backoff).
 *
 * With workload identities: TLS 1.3 with the node's certificate as it is
 * now (a renewal reaches the next dial), the mesh bundle as the only CA,
 * and the server accepted only as the node meant, under the SPIFFE ID its
 * entry holds (link-peer-check.ts). Without: plaintext, naming this node in
 * a header (tests only). The socket leaves from this node's own link host
 * when it has one, so a plaintext peer sees the address it expects.
 */
import { isIP } from 'node:net';
import { WebSocket } from 'ws';
import { formatHostPort, parseHostPort } from '../../src/shared/address.js';
import type { MeshCredentials } from '../../src/shared/identity/index.js';
import { MAX_LINK_FRAME_BYTES } from './link-connection.js';
import { LINK_SUBPROTOCOL } from './link-messages.js';
import type { LinkDialFailure } from './link-metrics.js';
import {
  LINK_NODE_HEADER,
  linkServerIdentityCheck,
  type LinkPeerEntry,
} from './link-peer-check.js';
import { LINK_PATH } from './link-server.js';

export interface DialOptions {
  readonly ownNode: string;
  readonly node: string;
  readonly entry: LinkPeerEntry;
  readonly credentials: MeshCredentials | undefined;
  /** This node's link host, to dial from; none for a wildcard listener. */
  readonly localAddress: string | undefined;
  readonly timeoutMs: number;
}

/** A dial that failed, with why. */
export class LinkDialError extends Error {
  readonly reason: LinkDialFailure;
  constructor(reason: LinkDialFailure, message: string) {
    super(message);
    this.name = 'LinkDialError';
    this.reason = reason;
  }
}

const SERVER_IDENTITY = Symbol('streammesh.cascadeServerIdentity');
/** TLS itself failed: OpenSSL's, node's and X.509 verification's codes. */
const TLS_ERROR = /^ERR_(SSL|TLS)_|CERT|UNABLE_TO_|SELF_SIGNED|INVALID_CA|INVALID_PURPOSE/;

export function dialLink(options: DialOptions): Promise<WebSocket> {
  const target = parseHostPort(options.entry.link);
  if (typeof target === 'string') {
    return Promise.reject(new LinkDialError('bad_address', target));
  }
  const tls = options.credentials !== undefined;
  const material = options.credentials?.current;
  if (tls && (material === undefined || options.entry.identity === null)) {
    return Promise.reject(
      new LinkDialError('no_certificate', 'no workload certificate, or no identity for the peer'),
    );
  }
  const url = `${tls ? 'wss' : 'ws'}://${formatHostPort(target)}${LINK_PATH}`;
  const socket = new WebSocket(url, LINK_SUBPROTOCOL, {
    handshakeTimeout: options.timeoutMs,
    maxPayload: MAX_LINK_FRAME_BYTES,
    perMessageDeflate: false,
    followRedirects: false,
    ...(options.localAddress !== undefined && isIP(options.localAddress) !== 0
      ? { localAddress: options.localAddress }
      : {}),
    ...(material !== undefined && options.entry.identity !== null
      ? {
          secureContext: material.context,
          minVersion: 'TLSv1.3' as const,
          rejectUnauthorized: true,
          // ws hands its options to tls.connect as they are (its typings say boolean;
          // node:tls takes an Error to refuse, undefined to accept).
          checkServerIdentity: marked(
            linkServerIdentityCheck(material, options.node, options.entry.identity),
          ),
        }
      : { headers: { [LINK_NODE_HEADER]: options.ownNode } }),
  });
  return new Promise((resolve, reject) => {
    const fail = (reason: LinkDialFailure, message: string): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      reject(new LinkDialError(reason, message));
    };
    socket.once('open', () => {
      socket.removeAllListeners();
      resolve(socket);
    });
    socket.once('unexpected-response', (_request, response) => {
      fail('refused', `answered ${response.statusCode ?? 0}`);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      fail(dialFailure(error), error.message);
    });
    socket.once('close', () => {
      fail('closed', 'closed before it opened');
    });
  });
}

/** Marks the server identity check's refusals, to tell them apart from other TLS failures. */
function marked(
  check: ReturnType<typeof linkServerIdentityCheck>,
): ReturnType<typeof linkServerIdentityCheck> {
  return (host, certificate) => {
    const error = check(host, certificate);
    if (error !== undefined) Object.assign(error, { [SERVER_IDENTITY]: true });
    return error;
  };
}

function dialFailure(error: NodeJS.ErrnoException): LinkDialFailure {
  if ((error as { [SERVER_IDENTITY]?: boolean })[SERVER_IDENTITY] === true) {
    return 'server_identity';
  }
  const code = error.code ?? '';
  if (TLS_ERROR.test(code)) return 'tls';
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return 'connect';
  }
  if (error.message.includes('Opening handshake has timed out')) return 'timeout';
  return 'closed';
}
