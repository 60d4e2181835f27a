/**
 * One RTSP client connection to a camera (RFC 2326 §10): sends requests one
 * at a time, matches each response by CSeq (§12.17), answers 401 challenges
 * once with credentials, and hands `$`-framed interleaved data (§10.12) to
 * its owner. It knows nothing about sessions or media.
 *
 * Every failure (refused connect, timeout, the camera closing, bytes the
 * parser refuses) closes the connection, rejects the request in flight and
 * is reported once through `onClose`; nothing here throws at its caller
 * outside a returned promise.
 */
import { Socket } from 'node:net';
import {
  RtspHeaders,
  RtspStreamParser,
  serializeRequest,
  serializeResponse,
  type RtspRequest,
  type RtspResponse,
} from '../../protocol/rtsp/index.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { CameraAuthenticator } from './camera-auth.js';
import {
  CameraAuthError,
  CameraClosedError,
  CameraConnectError,
  CameraError,
  CameraProtocolError,
  CameraTimeoutError,
  describeSocketError,
} from './camera-errors.js';
import type { CameraCredentials } from './camera-url.js';

const USER_AGENT = 'streammesh';
/**
 * One request in flight and one waiting (a keepalive or the TEARDOWN of
 * close() may overlap another request); beyond that the caller is wrong.
 */
const MAX_QUEUED_REQUESTS = 2;

export interface RtspClientConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly credentials: CameraCredentials | undefined;
  /** Bound on the TCP connect and on each response. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** One interleaved frame; called synchronously from the socket's data handler. */
  readonly onInterleaved: (channel: number, payload: Buffer) => void;
  /** The connection ended by itself (not by close()); called at most once. */
  readonly onClose: (error: CameraError) => void;
}

interface Pending {
  readonly method: string;
  readonly cseq: number;
  readonly resolve: (response: RtspResponse) => void;
  readonly reject: (error: CameraError) => void;
  readonly timer: NodeJS.Timeout;
}

export class RtspClientConnection {
  readonly #options: RtspClientConnectionOptions;
  readonly #socket = new Socket();
  readonly #parser = new RtspStreamParser();
  readonly #auth: CameraAuthenticator;
  #cseq = 0;
  #pending: Pending | undefined;
  #queued = 0;
  /** Serializes requests: each waits for the previous one to settle. */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: RtspClientConnectionOptions) {
    this.#options = options;
    this.#auth = new CameraAuthenticator(options.credentials);
  }

  /** The camera's IP address as seen on this connection (where its media should come from). */
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Opens the TCP connection; rejects with CameraConnectError or CameraTimeoutError. */
  async connect(): Promise<void> {
    const { host, port, timeoutMs } = this.#options;
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const socket = this.#socket;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new CameraTimeoutError(`the TCP connect to ${address}`, timeoutMs));
      }, timeoutMs);
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(new CameraConnectError(address, describeSocketError(error)));
      };
      const onClose = (): void => {
        cleanup();
        reject(new CameraClosedError('closed before the connection was established'));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('connect', onConnect).off('error', onError).off('close', onClose);
      };
      socket.once('connect', onConnect).once('error', onError).once('close', onClose);
      socket.connect({ host, port });
    }).catch((error: unknown) => {
      this.close();
      throw error;
    });
    if (this.#closed) throw new CameraClosedError('closed while connecting');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    socket.on('error', (error) => {
      this.#fail(new CameraClosedError(errorMessage(error)));
    });
    socket.on('close', () => {
      this.#fail(new CameraClosedError());
    });
  }

  /**
   * Sends one request and resolves with its final response (after at most
   * one authenticated retry), whatever its status. Rejects with a
   * CameraError when the connection fails or times out, or with
   * CameraAuthError when the camera refuses the credentials.
   */
  async request(
    method: string,
    url: string,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<RtspResponse> {
    if (this.#closed) throw new CameraClosedError('the connection is closed');
    if (this.#queued >= MAX_QUEUED_REQUESTS) {
      throw new CameraProtocolError(`RTSP client busy: ${method} would queue behind two requests`);
    }
    this.#queued += 1;
    const previous = this.#tail;
    const result = (async () => {
      try {
        await previous.catch(() => undefined);
        return await this.#exchangeWithAuth(method, url, headers);
      } finally {
        this.#queued -= 1;
      }
    })();
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Closes the connection; a request in flight is rejected. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#rejectPending(new CameraClosedError('the connection was closed'));
  }

  async #exchangeWithAuth(
    method: string,
    url: string,
    headers: Readonly<Record<string, string>>,
  ): Promise<RtspResponse> {
    const sentCredentials = this.#auth.active;
    const first = await this.#exchange(method, url, headers);
    if (first.status !== 401) return first;
    if (sentCredentials) {
      // The camera saw our credentials and refused them: unless it says the
      // nonce was merely stale (RFC 7616 §3.3), another try would fail too.
      if (!/\bstale\s*=\s*"?true/i.test(first.headers.getAll('WWW-Authenticate').join(','))) {
        throw new CameraAuthError('camera refused the credentials (401)');
      }
    }
    this.#auth.accept(first);
    const second = await this.#exchange(method, url, headers);
    if (second.status === 401) throw new CameraAuthError('camera refused the credentials (401)');
    return second;
  }

  async #exchange(
    method: string,
    url: string,
    extra: Readonly<Record<string, string>>,
  ): Promise<RtspResponse> {
    if (this.#closed) throw new CameraClosedError('the connection is closed');
    const cseq = ++this.#cseq;
    const headers = new RtspHeaders([
      ['CSeq', String(cseq)],
      ['User-Agent', USER_AGENT],
    ]);
    for (const [name, value] of Object.entries(extra)) headers.set(name, value);
    const authorization = this.#auth.authorization(method, url);
    if (authorization !== undefined) headers.set('Authorization', authorization);
    const request: RtspRequest = {
      method,
      url,
      version: 'RTSP/1.0',
      headers,
      body: Buffer.alloc(0),
    };
    let bytes: Buffer;
    try {
      bytes = serializeRequest(request);
    } catch (error) {
      // A control URL the camera gave us with a space or control character.
      throw new CameraProtocolError(`cannot send ${method}: ${errorMessage(error)}`);
    }
    const { timeoutMs, log } = this.#options;
    const response = await new Promise<RtspResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new CameraTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.#pending = { method, cseq, resolve, reject, timer };
      this.#socket.write(bytes);
    });
    log.debug({ method, url, status: response.status }, 'rtsp response');
    return response;
  }

  #onData(chunk: Buffer): void {
    for (const event of this.#parser.push(chunk)) {
      if (this.#closed) return;
      switch (event.type) {
        case 'interleaved':
          this.#options.onInterleaved(event.channel, event.payload);
          break;
        case 'response':
          this.#onResponse(event.response);
          break;
        case 'request':
          this.#refuseRequest(event.request);
          break;
        case 'error':
          this.#fail(new CameraProtocolError(`camera sent malformed RTSP (${event.reason})`));
          return;
      }
    }
  }

  #onResponse(response: RtspResponse): void {
    const pending = this.#pending;
    const cseq = response.headers.cseq();
    // A response without CSeq can only be for the one request in flight.
    if (pending === undefined || (cseq !== undefined && cseq !== pending.cseq)) {
      this.#options.log.debug({ cseq }, 'dropped an RTSP response matching no request');
      return;
    }
    clearTimeout(pending.timer);
    this.#pending = undefined;
    pending.resolve(response);
  }

  /**
   * RFC 2326 §10 lets a server send requests too (ANNOUNCE, SET_PARAMETER,
   * REDIRECT); this client implements none and says so, as §7.1.1 asks.
   */
  #refuseRequest(request: RtspRequest): void {
    const headers = new RtspHeaders();
    const cseq = request.headers.cseq();
    if (cseq !== undefined) headers.set('CSeq', String(cseq));
    this.#socket.write(
      serializeResponse({
        version: 'RTSP/1.0',
        status: 501,
        reason: 'Not Implemented',
        headers,
        body: Buffer.alloc(0),
      }),
    );
  }

  #rejectPending(error: CameraError): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    this.#pending = undefined;
    pending.reject(error);
  }

  #fail(error: CameraError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#rejectPending(error);
    this.#options.onClose(error);
  }
}
