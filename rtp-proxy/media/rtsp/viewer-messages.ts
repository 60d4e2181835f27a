/**
 * What the RTSP service on the main thread and a media worker say about the
 * UDP viewer tracks the worker carries (viewer-spread.ts and
 * viewer-worker.ts), over a MessageChannel of their own (one per worker
 * thread, given at its start): requests of the relay's config transaction
 * and these packets never wait behind each other.
 *
 * Packets go out once per event-loop turn per worker as one 'sends': every
 * distinct packet of the turn once in `slab` (transferred, not copied), and
 * `plan`, one entry per delivery: [viewer, kind (0 RTP, 1 RTCP), packet
 * index], in the order the path made them, so each viewer's packets keep
 * their order and a packet sent to several viewers of the worker crosses
 * once.
 */

/** A viewer track's pair, as main picked it, and the client it is connected to. */
export interface ViewerOpen {
  readonly kind: 'open';
  /** Answered with a ViewerOpened of this id. */
  readonly request: number;
  readonly viewer: number;
  readonly host: string;
  /** The even port (RTP); RTCP is port + 1. */
  readonly port: number;
  readonly client: { readonly host: string; readonly rtpPort: number; readonly rtcpPort: number };
}

export type ToViewerWorker =
  | ViewerOpen
  | { readonly kind: 'close'; readonly viewer: number }
  | {
      readonly kind: 'sends';
      readonly slab: ArrayBuffer;
      readonly offsets: Uint32Array;
      readonly lengths: Uint32Array;
      /** [viewer, kind, index] per delivery, in order. */
      readonly plan: Uint32Array;
    };

export const SEND_RTP = 0;
export const SEND_RTCP = 1;

export type ViewerOpened =
  | { readonly kind: 'opened'; readonly request: number; readonly ok: true }
  | {
      readonly kind: 'opened';
      readonly request: number;
      readonly ok: false;
      /** The port (or its partner) is taken: main tries another pair. */
      readonly taken: boolean;
      readonly code: string | undefined;
      readonly message: string;
    };

export type FromViewerWorker =
  | ViewerOpened
  /**
   * An RTCP datagram from the viewer (its receiver reports; a few a turn at
   * most). Its RTP is dropped in the worker: main ignores it too.
   */
  | { readonly kind: 'rtcp'; readonly viewer: number; readonly packet: Uint8Array }
  /** Datagrams to the viewer's pair from another address, dropped. */
  | { readonly kind: 'strays'; readonly viewer: number; readonly count: number }
  /** Datagrams the kernel did not take for the viewer since the last report. */
  | { readonly kind: 'lost'; readonly viewer: number; readonly count: number };
