/**
 * RTSP UDP viewers spread over the media workers (issue 20, point 3): with
 * proxy.workers > 1 each UDP viewer track's port pair and its sends live on
 * the worker that carries the fewest viewer tracks when it is set up, so one
 * camera's viewers use every core for what costs with many viewers (a copy
 * into each viewer's slab and one sendmmsg per viewer per turn).
 *
 * What stays on the main thread: the RTSP connections and sessions, the
 * source and the path's packet chain, and the per-viewer decisions
 * (keyframe wait, slow viewer, withdraw), which need a synchronous answer:
 * WorkerUdpTrackTransport answers as UdpTrackTransport does (true while
 * open) and hands the packet to its worker's outbox (viewer-outbox.ts: one
 * message per worker per turn, each packet copied once per worker).
 *
 * Ports: main's PortAllocator picks the pair, as for a pair of its own, and
 * the worker binds exactly that pair before SETUP is answered (the answer
 * names server_port); a port the worker finds taken is skipped like one main
 * finds taken.
 *
 * A worker that dies takes its pairs with it (its sockets close with the
 * thread). Its viewers are opened again on its successor on the same ports
 * and to the same client: the viewer's player, which knows only those
 * ports, carries on after a gap (from the next keyframe, as a viewer that
 * lost packets by being slow does), as a relay route with a fixed port does;
 * ending the sessions instead would stop every player that does not
 * reconnect by itself (ffplay, most NVRs). What the path sends a viewer
 * while its worker is down counts as lost for it; the other workers'
 * viewers do not notice. A viewer whose ports cannot be bound again (taken
 * meanwhile) has its session ended and counted.
 */
import type { MessagePort } from 'node:worker_threads';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import type { PortAllocator } from '../../../src/media/udp/index.js';
import type { IncomingHandlers, TrackTransport } from './track-transport.js';
import { ViewerOutbox } from './viewer-outbox.js';
import { SEND_RTCP, SEND_RTP, type FromViewerWorker, type ViewerOpen } from './viewer-messages.js';

/** The media workers as the RTSP service sees them (MediaWorkers provides it). */
export interface ViewerThreads {
  readonly workers: number;
  /**
   * Calls `listener` with each worker's viewer channel now, with undefined
   * as soon as a worker is seen to end, and with the channel of the thread
   * that replaces it.
   */
  followViewerChannels(listener: (worker: number, port: MessagePort | undefined) => void): void;
}

/** A worker refused to open a viewer pair, or did not answer in time. */
export class ViewerWorkerError extends StreammeshError {
  constructor(message: string, code = 'ERR_VIEWER_WORKER') {
    super(code, message);
  }
}

/** The worker ended (or is restarting) before it answered: no refusal of the viewer. */
export class ViewerWorkerEndedError extends ViewerWorkerError {
  constructor(worker: number) {
    super(`media worker ${worker} ended or is restarting`, 'ERR_VIEWER_WORKER_ENDED');
  }
}

/** A worker that does not answer an open within this is not waited for (SETUP fails). */
const OPEN_TIMEOUT_MS = 5000;

export interface SpreadIncoming extends IncomingHandlers {
  /** Opened again on a restarted worker: what it missed meanwhile is lost (restart it at a keyframe). */
  reopened(): void;
  /** The track cannot go on (its worker's successor could not bind its ports): end the session. */
  gone(reason: string): void;
}

/** One worker as the spread sees it: its outbox (and channel) and the viewer tracks on it. */
export interface Lane {
  readonly index: number;
  readonly outbox: ViewerOutbox;
  readonly viewers: Set<WorkerUdpTrackTransport>;
  /** Opens waiting for this lane's answer, by request id. */
  readonly waiting: Map<number, { resolve(ok: boolean): void; reject(error: Error): void }>;
}

export interface SpreadStats {
  /** Viewer tracks per worker, as main placed them. */
  readonly viewerTracks: readonly number[];
  /** Tracks opened again on a restarted worker, and those that could not be (their sessions ended). */
  readonly reopened: number;
  readonly reopenFailed: number;
}

export class ViewerSpread {
  readonly #lanes: Lane[] = [];
  readonly #log: Logger;
  readonly #byId = new Map<number, WorkerUdpTrackTransport>();
  #nextViewer = 1;
  #nextRequest = 1;
  #reopened = 0;
  #reopenFailed = 0;

  constructor(threads: ViewerThreads, log: Logger) {
    this.#log = log;
    for (let index = 0; index < threads.workers; index += 1) {
      this.#lanes.push({
        index,
        outbox: new ViewerOutbox(),
        viewers: new Set(),
        waiting: new Map(),
      });
    }
    threads.followViewerChannels((worker, port) => {
      const lane = this.#lanes[worker];
      if (lane === undefined) return;
      if (port !== undefined) this.#attach(lane, port);
      else if (lane.outbox.port !== undefined) this.#detach(lane, lane.outbox.port);
    });
  }

  stats(): SpreadStats {
    return {
      viewerTracks: this.#lanes.map((lane) => lane.viewers.size),
      reopened: this.#reopened,
      reopenFailed: this.#reopenFailed,
    };
  }

  /**
   * A UDP viewer track on the worker with the fewest, its pair picked by
   * `ports` and bound there; undefined when no worker is up or the one
   * chosen ended before it answered (the caller serves the viewer on main).
   */
  async open(
    ports: PortAllocator,
    host: string,
    client: ViewerOpen['client'],
    incoming: SpreadIncoming,
  ): Promise<WorkerUdpTrackTransport | undefined> {
    const lane = this.#leastLoaded();
    if (lane === undefined) return undefined;
    const viewer = this.#nextViewer++;
    const transport = new WorkerUdpTrackTransport(this, lane, viewer, incoming, () => {
      ports.release(transport.port);
    });
    // Counted from now, so that concurrent SETUPs spread too.
    lane.viewers.add(transport);
    this.#byId.set(viewer, transport);
    try {
      transport.port = await ports.allocateWith(async (port) =>
        (await this.#openOn(lane, { viewer, host, port, client })) ? port : undefined,
      );
    } catch (error) {
      lane.viewers.delete(transport);
      this.#byId.delete(viewer);
      // An open the worker may still finish is closed there.
      this.#post(lane, { kind: 'close', viewer });
      if (error instanceof ViewerWorkerEndedError) return undefined;
      throw error;
    }
    transport.open = { host, client };
    return transport;
  }

  /** Called by the transport: what it gathered this turn goes first, then its pair closes. */
  close(transport: WorkerUdpTrackTransport): void {
    const lane = transport.lane;
    lane.outbox.flush();
    lane.viewers.delete(transport);
    this.#byId.delete(transport.viewer);
    this.#post(lane, { kind: 'close', viewer: transport.viewer });
  }

  #leastLoaded(): Lane | undefined {
    let best: Lane | undefined;
    for (const lane of this.#lanes) {
      if (lane.outbox.port === undefined) continue;
      if (best === undefined || lane.viewers.size < best.viewers.size) best = lane;
    }
    return best;
  }

  #post(lane: Lane, message: ViewerOpen | { kind: 'close'; viewer: number }): void {
    lane.outbox.port?.postMessage(message);
  }

  /** Asks the lane's worker to bind `port` and connect it; false when the port is taken. */
  #openOn(lane: Lane, open: Omit<ViewerOpen, 'kind' | 'request'>): Promise<boolean> {
    const port = lane.outbox.port;
    if (port === undefined) return Promise.reject(new ViewerWorkerEndedError(lane.index));
    const request = this.#nextRequest++;
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        lane.waiting.delete(request);
        reject(
          new ViewerWorkerError(
            `media worker ${lane.index} did not open a viewer pair in ${OPEN_TIMEOUT_MS} ms`,
          ),
        );
      }, OPEN_TIMEOUT_MS);
      lane.waiting.set(request, {
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      port.postMessage({ kind: 'open', request, ...open } satisfies ViewerOpen);
    });
  }

  /** A worker thread's channel: the first, or a successor's (its viewers are opened again on it). */
  #attach(lane: Lane, port: MessagePort): void {
    const before = lane.outbox.port;
    if (before !== undefined) this.#detach(lane, before);
    lane.outbox.port = port;
    port.on('message', (message: FromViewerWorker) => {
      this.#received(lane, message);
    });
    port.on('close', () => {
      if (lane.outbox.port === port) this.#detach(lane, port);
    });
    // Main's end of the channel must not keep the process alive.
    port.unref();
    // A successor (the first channel finds no viewer): the tracks its
    // predecessor carried are opened again on it. The old channel may have
    // reported its close already (then `before` is undefined).
    for (const transport of lane.viewers) void this.#reopen(lane, transport);
  }

  /** The worker is gone: opens waiting for it fail; its viewers' packets are lost until a successor. */
  #detach(lane: Lane, port: MessagePort): void {
    port.removeAllListeners('message');
    if (lane.outbox.port === port) lane.outbox.port = undefined;
    for (const waiting of lane.waiting.values()) {
      waiting.reject(new ViewerWorkerEndedError(lane.index));
    }
    lane.waiting.clear();
    for (const transport of lane.viewers) transport.reopening = true;
  }

  async #reopen(lane: Lane, transport: WorkerUdpTrackTransport): Promise<void> {
    const open = transport.open;
    if (open === undefined) return; // still in its first open: that one fails and SETUP answers so
    transport.reopening = true;
    let reason: string;
    try {
      if (await this.#openOn(lane, { viewer: transport.viewer, port: transport.port, ...open })) {
        if (this.#byId.get(transport.viewer) !== transport) {
          // Closed while it was opened again: close it there too.
          this.#post(lane, { kind: 'close', viewer: transport.viewer });
          return;
        }
        transport.reopening = false;
        this.#reopened += 1;
        transport.incoming.reopened();
        return;
      }
      reason = `its port pair ${transport.port}-${transport.port + 1} is taken`;
    } catch (error) {
      // The successor died too: the next one opens it again (it stays reopening).
      if (error instanceof ViewerWorkerEndedError) return;
      reason = errorMessage(error);
    }
    if (this.#byId.get(transport.viewer) !== transport) return;
    this.#reopenFailed += 1;
    this.#log.warn(
      { worker: lane.index, port: transport.port, reason },
      'rtsp viewer track not reopened on the restarted media worker: its session ends',
    );
    transport.incoming.gone(`media worker ${lane.index} restarted and ${reason}`);
  }

  #received(lane: Lane, message: FromViewerWorker): void {
    if (message.kind === 'opened') {
      const waiting = lane.waiting.get(message.request);
      if (waiting === undefined) return;
      lane.waiting.delete(message.request);
      if (message.ok) waiting.resolve(true);
      else if (message.taken) waiting.resolve(false);
      else {
        const code = message.code === undefined ? '' : ` (${message.code})`;
        waiting.reject(
          new ViewerWorkerError(`media worker ${lane.index}: ${message.message}${code}`),
        );
      }
      return;
    }
    const transport = this.#byId.get(message.viewer);
    if (transport === undefined) return;
    switch (message.kind) {
      case 'rtcp':
        transport.incoming.rtcp(
          Buffer.from(message.packet.buffer, message.packet.byteOffset, message.packet.byteLength),
        );
        return;
      case 'strays':
        for (let i = 0; i < message.count; i += 1) transport.incoming.stray();
        return;
      case 'lost':
        transport.lost += message.count;
        return;
    }
  }
}

/**
 * A UDP viewer track whose pair and sends are on a media worker: the main
 * thread's stand-in, answering the path as UdpTrackTransport does.
 */
export class WorkerUdpTrackTransport implements TrackTransport {
  readonly kind = 'udp';
  readonly viewer: number;
  readonly lane: Lane;
  readonly incoming: SpreadIncoming;
  /** The even port of its pair (set once bound). */
  port = 0;
  /** The client it was opened to, kept to open it again on a restarted worker. */
  open: { readonly host: string; readonly client: ViewerOpen['client'] } | undefined;
  /** While its worker restarts: what it is sent is lost. */
  reopening = false;
  /** Datagrams the kernel did not take, and those sent while its worker was down. */
  lost = 0;
  readonly #spread: ViewerSpread;
  readonly #release: () => void;
  #closed = false;

  constructor(
    spread: ViewerSpread,
    lane: Lane,
    viewer: number,
    incoming: SpreadIncoming,
    release: () => void,
  ) {
    this.#spread = spread;
    this.lane = lane;
    this.viewer = viewer;
    this.incoming = incoming;
    this.#release = release;
  }

  /** Which worker carries it. */
  get worker(): number {
    return this.lane.index;
  }

  get serverPorts(): [number, number] {
    return [this.port, this.port + 1];
  }

  sendRtp(packet: Buffer): boolean {
    // As UdpTrackTransport: true while open, whatever the kernel makes of it.
    if (this.#closed) return false;
    if (this.reopening || !this.lane.outbox.push(this.viewer, SEND_RTP, packet)) this.lost += 1;
    return true;
  }

  sendRtcp(packet: Buffer): void {
    if (this.#closed) return;
    if (this.reopening || !this.lane.outbox.push(this.viewer, SEND_RTCP, packet)) this.lost += 1;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#spread.close(this);
    this.#release();
  }
}
