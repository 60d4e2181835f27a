/**
 * One WHIP or WHEP session: a mediasoup WebRTC transport and what hangs off
 * it, as an HTTP resource (`/whip/session/<id>`, `/whep/session/<id>`).
 *
 * It ends, running its clean-ups once and in reverse order, on DELETE, when
 * DTLS fails or closes, when the transport's Router closes (room or camera
 * gone, worker died), when it does not connect within the connect timeout,
 * when ICE stays disconnected that long (the client left without a DELETE),
 * or when its owner says so (a WHEP source with nothing left to watch).
 *
 * PATCH with a trickle-ice-sdpfrag (RFC 9725 section 4.3): mediasoup is
 * ICE-lite, so trickled candidates are accepted and ignored (204); new ICE
 * credentials are an ICE restart: the transport gets new ones and the
 * answer carries them with the candidates (200) and a new ETag.
 */
import { randomBytes } from 'node:crypto';
import type { types } from 'mediasoup';
import { errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import { buildSdpFragment, type ParsedSdp, type SdpFragment } from '../sdp/index.js';
import { WhipWhepError } from './http.js';
import type { Endpoint } from './metrics.js';

export interface WhipWhepSessionOptions {
  readonly id: string;
  readonly endpoint: Endpoint;
  readonly transport: types.WebRtcTransport;
  readonly offer: ParsedSdp;
  /** Bound on reaching DTLS connected, and on staying ICE-disconnected. */
  readonly connectTimeoutMs: number;
  readonly log: Logger;
}

export type PatchResult =
  | { readonly status: 204 }
  | { readonly status: 200; readonly fragment: string; readonly etag: string };

export class WhipWhepSession {
  readonly id: string;
  readonly endpoint: Endpoint;
  readonly transport: types.WebRtcTransport;
  readonly log: Logger;
  readonly #offer: ParsedSdp;
  readonly #connectTimeoutMs: number;
  readonly #cleanups: (() => void)[] = [];
  readonly #connectedListeners: (() => void)[] = [];
  #acceptedMids: readonly string[] = [];
  #remoteUfrag: string;
  #etag = newEtag();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #connected = false;

  constructor(options: WhipWhepSessionOptions) {
    this.id = options.id;
    this.endpoint = options.endpoint;
    this.transport = options.transport;
    this.log = options.log;
    this.#offer = options.offer;
    this.#connectTimeoutMs = options.connectTimeoutMs;
    this.#remoteUfrag = options.offer.ice.usernameFragment;
    const { transport } = options;
    this.defer(() => {
      transport.close();
    });
    transport.on('dtlsstatechange', (state) => {
      if (state === 'connected') {
        this.#onConnected();
      } else if (state === 'failed' || state === 'closed') {
        this.close(`DTLS ${state}`);
      }
    });
    transport.on('icestatechange', (state) => {
      if (state === 'disconnected') {
        this.#arm('ICE stayed disconnected');
      } else if ((state === 'connected' || state === 'completed') && this.#connected) {
        this.#disarm();
      }
    });
    transport.on('routerclose', () => {
      this.close('its router closed');
    });
    transport.observer.once('close', () => {
      this.close('transport closed');
    });
    this.#arm('never connected');
  }

  get closed(): boolean {
    return this.#closed;
  }

  get etag(): string {
    return this.#etag;
  }

  /** Runs `cleanup` when the session ends (the last deferred runs first). */
  defer(cleanup: () => void): void {
    if (this.#closed) {
      runSafely(cleanup, this.log);
      return;
    }
    this.#cleanups.push(cleanup);
  }

  /** Runs `listener` once DTLS is connected (at once if it is). */
  onConnected(listener: () => void): void {
    if (this.#connected) listener();
    else this.#connectedListeners.push(listener);
  }

  /** The m-sections the answer accepted, in order; the first is the bundled transport's. */
  accept(mids: readonly string[]): void {
    this.#acceptedMids = mids;
  }

  /**
   * A trickle-ice-sdpfrag from the client. `ifMatch` is the If-Match header:
   * `*` or absent always applies; another ETag than the session's is refused
   * with 412 (RFC 9725 section 4.3.1).
   */
  async patch(fragment: SdpFragment, ifMatch: string | undefined): Promise<PatchResult> {
    // It may have ended while the PATCH body was read; its transport is closed.
    if (this.#closed) {
      throw new WhipWhepError(404, 'unknown_session', `session ${this.id} has ended`);
    }
    if (ifMatch !== undefined && ifMatch.trim() !== '*' && ifMatch.trim() !== this.#etag) {
      throw new WhipWhepError(
        412,
        'precondition',
        `If-Match ${ifMatch} is not the session's ETag ${this.#etag}`,
      );
    }
    if (fragment.ice === undefined || fragment.ice.usernameFragment === this.#remoteUfrag) {
      // ICE-lite: the client's checks reach the SFU whatever candidates it trickles.
      return { status: 204 };
    }
    const iceParameters = await this.transport.restartIce();
    this.#remoteUfrag = fragment.ice.usernameFragment;
    this.#etag = newEtag();
    const mid = this.#acceptedMids[0];
    const media = this.#offer.medias.find((entry) => entry.mid === mid);
    if (media === undefined || mid === undefined) {
      throw new WhipWhepError(404, 'unknown_session', `session ${this.id} has no media`);
    }
    this.log.info('ICE restart');
    return {
      status: 200,
      etag: this.#etag,
      fragment: buildSdpFragment(
        { iceParameters, iceCandidates: this.transport.iceCandidates },
        { kind: media.kind, protocol: media.protocol, formats: media.formats, mid },
        this.#acceptedMids,
      ),
    };
  }

  /** Ends the session; idempotent. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    this.log.info({ reason }, 'session closed');
    for (const cleanup of this.#cleanups.splice(0).reverse()) runSafely(cleanup, this.log);
  }

  #onConnected(): void {
    if (this.#connected) return;
    this.#connected = true;
    this.#disarm();
    this.log.info('session connected');
    for (const listener of this.#connectedListeners.splice(0)) runSafely(listener, this.log);
  }

  #arm(reason: string): void {
    this.#disarm();
    this.#timer = setTimeout(() => {
      this.close(`${reason} within ${this.#connectTimeoutMs} ms`);
    }, this.#connectTimeoutMs);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export function newSessionId(): string {
  return randomBytes(16).toString('hex');
}

function newEtag(): string {
  return `"${randomBytes(8).toString('hex')}"`;
}

function runSafely(action: () => void, log: Logger): void {
  try {
    action();
  } catch (error) {
    log.warn({ err: errorMessage(error) }, 'session clean-up failed');
  }
}
