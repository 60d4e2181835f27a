/**
 * The page's end of signaling protocol v1 (signaling/PROTOCOL.md): JSON
 * requests over one WebSocket, answers matched by id, notifications handed
 * to listeners. Only the methods and events the demo uses are typed here.
 */
import type { types } from 'mediasoup-client';

export const SUBPROTOCOL = 'streammesh.v1';
/** A request still unanswered after this long is failed (the server answers in milliseconds). */
const REQUEST_TIMEOUT_MS = 10_000;
/** A node answers a WebSocket upgrade in milliseconds; one that does not is as good as down. */
const OPEN_TIMEOUT_MS = 5_000;

export interface ProducerInfo {
  readonly peer: string;
  readonly producerId: string;
  readonly kind: types.MediaKind;
  readonly paused: boolean;
}

export interface PeerInfo {
  readonly peer: string;
  readonly displayName: string | null;
}

export interface JoinAnswer {
  readonly room: string;
  readonly peer: string;
  /** Our display name as the server cleaned it (what the others see); null when none was given. */
  readonly displayName: string | null;
  readonly peers: readonly PeerInfo[];
  readonly producers: readonly ProducerInfo[];
  /** In a mesh: the other nodes' WebSocket URLs, to join through if this node goes away. */
  readonly doors?: readonly string[];
}

export interface TransportAnswer {
  readonly id: string;
  readonly iceParameters: types.IceParameters;
  readonly iceCandidates: types.IceCandidate[];
  readonly dtlsParameters: types.DtlsParameters;
}

export interface ConsumeAnswer {
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: types.MediaKind;
  readonly rtpParameters: types.RtpParameters;
}

type Empty = Record<string, never>;

/** Method name -> [request data, answer data]. */
interface Methods {
  join: [{ room: string; peer?: string; displayName?: string }, JoinAnswer];
  leave: [Empty, Empty];
  getRouterRtpCapabilities: [Empty, types.RtpCapabilities];
  createTransport: [{ direction: 'send' | 'recv' }, TransportAnswer];
  connectTransport: [{ transportId: string; dtlsParameters: types.DtlsParameters }, Empty];
  restartIce: [{ transportId: string }, { iceParameters: types.IceParameters }];
  produce: [
    { transportId: string; kind: types.MediaKind; rtpParameters: types.RtpParameters },
    { producerId: string },
  ];
  consume: [
    { transportId: string; producerId: string; rtpCapabilities: types.RtpCapabilities },
    ConsumeAnswer,
  ];
  resumeConsumer: [{ consumerId: string }, Empty];
  ping: [Empty, Empty];
}
export type Method = keyof Methods;

/** Notification name -> its data. */
export interface Events {
  peerJoined: PeerInfo;
  peerLeft: { peer: string };
  newProducer: ProducerInfo;
  producerClosed: { peer: string; producerId: string };
  consumerClosed: { consumerId: string; producerId: string };
  reconnect: { room: string; reason: string };
  /** The node drains: join again at `url` (ws: or wss:), before `deadlineMs` (Unix ms). */
  move: { room: string; url: string; deadlineMs?: number };
}
export type EventName = keyof Events;

/** An error answer (its `code` is one of PROTOCOL.md's), or a failed connection. */
export class SignalingError extends Error {
  override readonly name = 'SignalingError';
  /** The server's own words (the message without the method in front), for the page's error area. */
  readonly reason: string;

  constructor(
    readonly code: string,
    message: string,
    reason: string = message,
    /** With `moved`: the WebSocket URL of the node to join instead. */
    readonly url?: string,
  ) {
    super(message);
    this.reason = reason;
  }
}

interface Pending {
  readonly method: string;
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: number;
}

interface Frame {
  readonly id?: unknown;
  readonly ok?: unknown;
  readonly data?: unknown;
  readonly error?: { readonly code?: unknown; readonly message?: unknown; readonly url?: unknown };
  readonly event?: unknown;
}

export class SignalingClient {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, (data: unknown) => void>();
  #onClose: (() => void) | undefined;
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string') this.#receive(event.data);
    });
    socket.addEventListener('close', () => {
      for (const [id, pending] of this.#pending) {
        clearTimeout(pending.timer);
        pending.reject(new SignalingError('closed', `connection closed before ${pending.method}`));
        this.#pending.delete(id);
      }
      this.#onClose?.();
    });
  }

  /**
   * Opens `url` (ws:// or wss://) with the protocol's subprotocol. Every
   * failure is a SignalingError 'closed', also the browser's synchronous
   * refusal (a SecurityError: the page's connect-src does not name a node
   * that joined the mesh after the page loaded), so a caller tries the next
   * door the same way.
   */
  static open(url: string): Promise<SignalingClient> {
    let socket: WebSocket;
    try {
      socket = new WebSocket(url, SUBPROTOCOL);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return Promise.reject(new SignalingError('closed', `cannot connect to ${url}: ${why}`));
    }
    return new Promise((resolve, reject) => {
      const fail = (): void => {
        clearTimeout(timer);
        socket.close();
        reject(new SignalingError('closed', `cannot connect to ${url}`));
      };
      const timer = setTimeout(fail, OPEN_TIMEOUT_MS);
      socket.addEventListener('close', fail, { once: true });
      socket.addEventListener(
        'open',
        () => {
          clearTimeout(timer);
          socket.removeEventListener('close', fail);
          resolve(new SignalingClient(socket));
        },
        { once: true },
      );
    });
  }

  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  request<M extends Method>(method: M, data: Methods[M][0]): Promise<Methods[M][1]> {
    const id = this.#nextId++;
    return new Promise<Methods[M][1]>((resolve, reject) => {
      if (!this.open) {
        reject(new SignalingError('closed', `not connected: cannot send ${method}`));
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SignalingError('timeout', `no answer to ${method}`));
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(id, {
        method,
        resolve: (answer) => {
          resolve(answer as Methods[M][1]);
        },
        reject,
        timer,
      });
      this.#socket.send(JSON.stringify({ v: 1, id, method, data }));
    });
  }

  /** One listener per event (a later one replaces it). */
  on<E extends EventName>(event: E, listener: (data: Events[E]) => void): void {
    this.#listeners.set(event, listener as (data: unknown) => void);
  }

  /** Called once when the socket closes, whoever closed it. */
  onClose(listener: () => void): void {
    this.#onClose = listener;
  }

  close(): void {
    this.#socket.close(1000);
  }

  #receive(text: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      return;
    }
    if (typeof frame.event === 'string') {
      this.#listeners.get(frame.event)?.(frame.data);
      return;
    }
    if (typeof frame.id !== 'number') return;
    const pending = this.#pending.get(frame.id);
    if (pending === undefined) return;
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.ok === true) {
      pending.resolve(frame.data);
    } else {
      const code = typeof frame.error?.code === 'string' ? frame.error.code : 'internal';
      const message = typeof frame.error?.message === 'string' ? frame.error.message : code;
      const url = typeof frame.error?.url === 'string' ? frame.error.url : undefined;
      pending.reject(new SignalingError(code, `${pending.method}: ${message}`, message, url));
    }
  }
}
