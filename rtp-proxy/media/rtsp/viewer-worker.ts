/**
 * The media worker's side of the RTSP viewer spread (viewer-spread.ts is the
 * main thread's): the UDP viewer tracks this worker carries, each the same
 * UdpTrackTransport the main thread uses with one worker, on a pair bound
 * here (the ports main picked). The packets main sends for them arrive once
 * per turn (viewer-messages.ts) and each viewer's share is copied into its
 * send slab and leaves with one sendBatch at the end of the worker's turn,
 * as on main.
 *
 * What the viewer sends back (RTCP receiver reports, a few a turn at most)
 * goes to main, which keeps the session; so do its stray count and the
 * datagrams the kernel did not take (once a second). Its RTP, which the
 * session ignores on main too, is dropped here. This file is the worker's one entry into the
 * RTSP module: it loads the transport, not the service.
 */
import type { MessagePort } from 'node:worker_threads';
import { bindPair, flushAtTurnEnd } from '../../../src/media/udp/index.js';
import { errorMessage } from '../../../src/shared/errors.js';
import { UdpTrackTransport } from './track-transport.js';
import {
  SEND_RTP,
  type FromViewerWorker,
  type ToViewerWorker,
  type ViewerOpen,
} from './viewer-messages.js';

/** How often the datagrams the kernel refused are reported (they only feed counters). */
const LOST_REPORT_MS = 1000;
/**
 * RTCP datagrams of one viewer handed to main per turn of this worker; more
 * are dropped. A receiver report is a sign of life for the session: a
 * client that floods its RTCP port must not turn each datagram into a
 * message to the main thread.
 */
const RTCP_PER_TURN = 4;

export interface ViewerTracks {
  /** The viewer tracks open now. */
  readonly count: number;
  /** Closes every track and the channel (the worker is ending). */
  close(): void;
}

export function serveViewers(port: MessagePort): ViewerTracks {
  const viewers = new Map<number, UdpTrackTransport>();
  /** Opens under way: a close that comes first wins (the pair is closed once bound). */
  const opening = new Map<number, { cancelled: boolean }>();
  const reportedLost = new Map<number, number>();
  /** What goes to main at the end of this turn: strays counted, RTCP held (per viewer). */
  const strays = new Map<number, number>();
  const rtcp = new Map<number, Buffer[]>();
  const post = (message: FromViewerWorker): void => {
    port.postMessage(message);
  };

  const flushTurn = (): void => {
    for (const [viewer, count] of strays) post({ kind: 'strays', viewer, count });
    strays.clear();
    for (const [viewer, packets] of rtcp) {
      for (const packet of packets) post({ kind: 'rtcp', viewer, packet });
    }
    rtcp.clear();
  };
  const toMain = { flushAtTurnEnd: flushTurn };
  const later = (): void => {
    flushAtTurnEnd(toMain);
  };

  const open = async (request: ViewerOpen): Promise<void> => {
    closeViewer(request.viewer);
    const attempt = { cancelled: false };
    opening.set(request.viewer, attempt);
    try {
      const pair = await bindPair(request.host, request.port, false);
      if (pair === undefined) {
        const message = `port pair ${request.port}-${request.port + 1} is taken`;
        post({
          kind: 'opened',
          request: request.request,
          ok: false,
          taken: true,
          code: undefined,
          message,
        });
        return;
      }
      const { viewer } = request;
      const transport = await UdpTrackTransport.open(
        pair,
        request.client,
        {
          // A viewer's RTP is ignored by its session on main too: dropped here.
          rtp: () => undefined,
          rtcp: (packet) => {
            const held = rtcp.get(viewer);
            if (held === undefined) rtcp.set(viewer, [packet]);
            else if (held.length < RTCP_PER_TURN) held.push(packet);
            later();
          },
          stray: () => {
            strays.set(viewer, (strays.get(viewer) ?? 0) + 1);
            later();
          },
        },
        () => undefined, // main owns the port allocator
      );
      if (attempt.cancelled) {
        transport.close();
      } else {
        viewers.set(request.viewer, transport);
        reportedLost.set(request.viewer, 0);
      }
      post({ kind: 'opened', request: request.request, ok: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      post({
        kind: 'opened',
        request: request.request,
        ok: false,
        taken: false,
        code,
        message: errorMessage(error),
      });
    } finally {
      if (opening.get(request.viewer) === attempt) opening.delete(request.viewer);
    }
  };

  function closeViewer(viewer: number): void {
    const attempt = opening.get(viewer);
    if (attempt !== undefined) attempt.cancelled = true;
    const transport = viewers.get(viewer);
    if (transport === undefined) return;
    viewers.delete(viewer);
    reportLost(viewer, transport);
    reportedLost.delete(viewer);
    transport.close();
  }

  function reportLost(viewer: number, transport: UdpTrackTransport): void {
    const before = reportedLost.get(viewer) ?? 0;
    if (transport.lost === before) return;
    reportedLost.set(viewer, transport.lost);
    post({ kind: 'lost', viewer, count: transport.lost - before });
  }

  const sends = (message: Extract<ToViewerWorker, { kind: 'sends' }>): void => {
    const { slab, offsets, lengths, plan } = message;
    const entries = plan.length / 3;
    // One view per packet of the turn, shared by its viewers (each copies it into its slab).
    const views: (Buffer | undefined)[] = [];
    for (let entry = 0; entry < entries; entry += 1) {
      const at = entry * 3;
      const transport = viewers.get(plan[at] ?? -1);
      // Closed meanwhile (TEARDOWN crossed the packets): dropped as on main.
      if (transport === undefined) continue;
      const index = plan[at + 2] ?? 0;
      let view = views[index];
      if (view === undefined) {
        view = Buffer.from(slab, offsets[index] ?? 0, lengths[index] ?? 0);
        views[index] = view;
      }
      if (plan[at + 1] === SEND_RTP) transport.sendRtp(view);
      else transport.sendRtcp(view);
    }
  };

  const lostTimer = setInterval(() => {
    for (const [viewer, transport] of viewers) reportLost(viewer, transport);
  }, LOST_REPORT_MS);
  lostTimer.unref();

  port.on('message', (message: ToViewerWorker) => {
    switch (message.kind) {
      case 'open':
        void open(message);
        return;
      case 'close':
        closeViewer(message.viewer);
        return;
      case 'sends':
        sends(message);
        return;
    }
  });
  // The channel alone must not keep the worker alive (it ends once its relay closes).
  port.unref();

  return {
    get count() {
      return viewers.size;
    },
    close() {
      clearInterval(lostTimer);
      for (const viewer of [...viewers.keys()]) closeViewer(viewer);
      port.close();
    },
  };
}
