/**
 * One end of a cascade pipe as the PIPE resource and the PipeEndpoints message
 * carry it: where the node's PipeTransport listens (`host:port`) and the SRTP
 * key mediasoup made for it. mediasoup makes a fresh key for every
 * PipeTransport, so the key also tells one incarnation of an end from the
 * next: the same address with another key is a new transport (the peer
 * restarted, or recreated its end).
 *
 * Keys are secrets: nothing here logs or formats one; `describeEndpoint` gives
 * the address only.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { types } from 'mediasoup';
import { PIPE_SRTP_SUITE, type PipeSrtp } from '../../src/config/index.js';
import { formatHostPort, parseHostPort } from '../../src/shared/address.js';
import { StreammeshError } from '../../src/shared/errors.js';

export interface PipeEndpoint {
  /** host:port of the PipeTransport (its announced address when set). */
  readonly address: string;
  readonly srtp: PipeSrtp;
}

export type PipeSetErrorCode =
  /** The PipeSet (or its Router) is closed. */
  | 'ERR_PIPE_CLOSED'
  /** No pipe is open to that peer node. */
  | 'ERR_PIPE_NO_PEER'
  /** A peer's end that cannot be connected to (bad address, unknown suite). */
  | 'ERR_PIPE_BAD_ENDPOINT'
  /** The producer is piped in from another peer node already. */
  | 'ERR_PIPE_DUPLICATE'
  /** mediasoup refused (an unknown producer, a transport closed meanwhile). */
  | 'ERR_PIPE_MEDIA'
  /** No port left in the pipes' share of the worker's slice (sfu/port-slices.ts). */
  | 'ERR_PIPE_PORTS';

export class PipeSetError extends StreammeshError {
  declare readonly code: PipeSetErrorCode;

  // Not useless: it narrows `code` to this class's codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: PipeSetErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The end a PipeTransport offers: its tuple and the key mediasoup made. */
export function endpointOf(transport: types.PipeTransport): PipeEndpoint {
  // mediasoup's SrtpCryptoSuite type names more suites than pipes use.
  const srtp = transport.srtpParameters as { cryptoSuite: string; keyBase64: string } | undefined;
  if (srtp?.cryptoSuite !== PIPE_SRTP_SUITE) {
    // Pipes are created with enableSrtp, and mediasoup uses this suite for them.
    throw new PipeSetError(
      'ERR_PIPE_MEDIA',
      `pipe transport has SRTP suite ${srtp?.cryptoSuite ?? 'none'}, not ${PIPE_SRTP_SUITE}`,
    );
  }
  return {
    address: formatHostPort({
      host: transport.tuple.localAddress,
      port: transport.tuple.localPort,
    }),
    srtp: { cryptoSuite: PIPE_SRTP_SUITE, keyBase64: srtp.keyBase64 },
  };
}

/** The same transport: same address and same key. */
export function sameEndpoint(x: PipeEndpoint | undefined, y: PipeEndpoint | undefined): boolean {
  if (x === undefined || y === undefined) return x === y;
  // One suite only (the type says so): the key tells transports apart.
  return x.address === y.address && x.srtp.keyBase64 === y.srtp.keyBase64;
}

/** What a log line may say about an end: its address, never its key. */
export function describeEndpoint(endpoint: PipeEndpoint): string {
  return endpoint.address;
}

/**
 * The arguments of PipeTransport.connect for `endpoint`. mediasoup takes an
 * IP only; an announced DNS name (a Kubernetes Service) is resolved here.
 */
export async function connectParameters(
  endpoint: PipeEndpoint,
): Promise<{ ip: string; port: number; srtpParameters: types.SrtpParameters }> {
  // The PIPE body's schema checked the address's form and the key's suite and length.
  const parsed = parseHostPort(endpoint.address);
  if (typeof parsed === 'string') {
    throw new PipeSetError('ERR_PIPE_BAD_ENDPOINT', `peer pipe end: ${parsed}`);
  }
  if (parsed.port === 0) {
    throw new PipeSetError('ERR_PIPE_BAD_ENDPOINT', `peer pipe end ${endpoint.address}: port 0`);
  }
  let ip = parsed.host;
  if (isIP(ip) === 0) {
    try {
      ip = (await lookup(parsed.host)).address;
    } catch (error) {
      throw new PipeSetError(
        'ERR_PIPE_BAD_ENDPOINT',
        `peer pipe end ${endpoint.address}: cannot resolve ${parsed.host}`,
        { cause: error },
      );
    }
  }
  return {
    ip,
    port: parsed.port,
    srtpParameters: { cryptoSuite: PIPE_SRTP_SUITE, keyBase64: endpoint.srtp.keyBase64 },
  };
}
