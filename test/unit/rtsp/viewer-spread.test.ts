/**
 * ViewerSpread (the main thread's side of the RTSP viewer spread) against
 * scripted workers: each worker is the far end of a real MessageChannel
 * that answers opens as the test says (no socket: a unit test binds none;
 * the real worker side runs in rtsp-viewer-spread.test.ts). Placement,
 * exact ports, the turn's messages, a worker's end during an open, and
 * the re-open of a dead worker's viewers on its successor.
 */
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import {
  ViewerSpread,
  type SpreadIncoming,
  type ViewerThreads,
  type WorkerUdpTrackTransport,
} from '../../../rtp-proxy/media/rtsp/viewer-spread.js';
import type { ToViewerWorker, ViewerOpen } from '../../../rtp-proxy/media/rtsp/viewer-messages.js';
import { PortAllocator } from '../../../src/media/udp/index.js';
import { sleep } from '../../helpers/udp.js';

const log = pino({ level: 'silent' });
const CLIENT = { host: '127.0.0.1', rtpPort: 5000, rtcpPort: 5001 };

/** One scripted worker thread: the far end of its viewer channel. */
class ScriptedWorker {
  readonly main: MessagePort;
  readonly #far: MessagePort;
  readonly opens: ViewerOpen[] = [];
  readonly closes: number[] = [];
  readonly sends: Extract<ToViewerWorker, { kind: 'sends' }>[] = [];
  /** Ports it answers as taken. */
  readonly taken = new Set<number>();
  /** When false, opens wait unanswered. */
  answers = true;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.main = port1;
    this.#far = port2;
    port2.on('message', (message: ToViewerWorker) => {
      if (message.kind === 'open') {
        this.opens.push(message);
        if (!this.answers) return;
        const taken = this.taken.has(message.port);
        port2.postMessage(
          taken
            ? {
                kind: 'opened',
                request: message.request,
                ok: false,
                taken: true,
                code: undefined,
                message: 'taken',
              }
            : { kind: 'opened', request: message.request, ok: true },
        );
      } else if (message.kind === 'close') this.closes.push(message.viewer);
      else this.sends.push(message);
    });
  }

  /** A datagram from the viewer, as the worker forwards it. */
  incoming(viewer: number, packet: Buffer): void {
    this.#far.postMessage({ kind: 'rtcp', viewer, packet });
  }

  end(): void {
    this.#far.close();
  }
}

class ScriptedThreads implements ViewerThreads {
  readonly workers: number;
  readonly threads: ScriptedWorker[] = [];
  #listener: ((worker: number, port: MessagePort | undefined) => void) | undefined;

  constructor(workers: number) {
    this.workers = workers;
    for (let i = 0; i < workers; i += 1) this.threads.push(new ScriptedWorker());
  }

  followViewerChannels(listener: (worker: number, port: MessagePort | undefined) => void): void {
    this.#listener = listener;
    this.threads.forEach((thread, index) => {
      listener(index, thread.main);
    });
  }

  /** Worker `index` crashes: it is seen to end; its channel closes. */
  crash(index: number): void {
    this.threads[index]?.end();
    this.#listener?.(index, undefined);
  }

  /** Its successor (a new one unless given) is installed. */
  restart(index: number, successor = new ScriptedWorker()): ScriptedWorker {
    this.threads[index] = successor;
    this.#listener?.(index, successor.main);
    return successor;
  }

  close(): void {
    for (const thread of this.threads) thread.end();
  }
}

/** What the session side was told. */
interface Recorded {
  readonly handlers: SpreadIncoming;
  readonly rtcpPackets: Buffer[];
  readonly ended: string[];
  reopens: number;
}

function recorder(): Recorded {
  const recorded: Recorded = {
    rtcpPackets: [],
    ended: [],
    reopens: 0,
    handlers: {
      rtp: () => undefined,
      rtcp: (packet) => {
        recorded.rtcpPackets.push(packet);
      },
      stray: () => undefined,
      reopened: () => {
        recorded.reopens += 1;
      },
      gone: (reason) => {
        recorded.ended.push(reason);
      },
    },
  };
  return recorded;
}

/** Waits until `check` holds (messages cross the channel asynchronously). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (check()) return;
    await sleep(5);
  }
  assert.fail(`not reached: ${what}`);
}

describe('ViewerSpread', () => {
  const everything: ScriptedThreads[] = [];
  after(() => {
    for (const threads of everything) threads.close();
  });
  const setup = (
    workers = 2,
  ): { threads: ScriptedThreads; spread: ViewerSpread; ports: PortAllocator } => {
    const threads = new ScriptedThreads(workers);
    everything.push(threads);
    return {
      threads,
      spread: new ViewerSpread(threads, log),
      ports: new PortAllocator({ start: 30_000, end: 30_099 }),
    };
  };
  const open = async (
    spread: ViewerSpread,
    ports: PortAllocator,
    incoming = recorder(),
  ): Promise<WorkerUdpTrackTransport> => {
    const transport = await spread.open(ports, '127.0.0.1', CLIENT, incoming.handlers);
    assert.ok(transport);
    return transport;
  };

  it('puts each viewer on the worker with the fewest, on the pair main picks', async () => {
    const { threads, spread, ports } = setup();
    threads.threads[1]?.taken.add(30_002);
    const placed = [];
    for (let i = 0; i < 4; i += 1) placed.push(await open(spread, ports));
    assert.deepEqual(
      placed.map((t) => t.worker),
      [0, 1, 0, 1],
    );
    // Worker 1 found 30002 taken: it was given the next pair.
    assert.deepEqual(
      placed.map((t) => t.serverPorts[0]),
      [30_000, 30_004, 30_006, 30_008],
    );
    assert.deepEqual(
      threads.threads[1]?.opens.map((o) => o.port),
      [30_002, 30_004, 30_008],
    );
    assert.deepEqual(threads.threads[0]?.opens[0]?.client, CLIENT);
    assert.deepEqual(spread.stats().viewerTracks, [2, 2]);
  });

  it('posts each worker one message a turn, a packet for two of its viewers once', async () => {
    const { threads, spread, ports } = setup();
    const a = await open(spread, ports);
    const b = await open(spread, ports);
    const c = await open(spread, ports);
    const packet = Buffer.from([0x80, 96, 0, 9, 1, 2, 3, 4]);
    for (const viewer of [a, b, c]) assert.equal(viewer.sendRtp(packet), true);
    await until(() => (threads.threads[0]?.sends.length ?? 0) === 1, 'the turn posted');
    const turn = threads.threads[0]?.sends[0];
    assert.equal(turn?.offsets.length, 1, 'one copy for viewers a and c');
    assert.equal(turn.plan.length / 3, 2);
    assert.equal((threads.threads[1]?.sends[0]?.plan.length ?? 0) / 3, 1);
  });

  it('hands the viewer’s RTCP to its session; a viewer that leaves sends its turn first, then closes', async () => {
    const { threads, spread, ports } = setup(1);
    const incoming = recorder();
    const viewer = await open(spread, ports, incoming);
    threads.threads[0]?.incoming(viewer.viewer, Buffer.from([0x80, 201, 0, 1]));
    await until(() => incoming.rtcpPackets.length === 1, 'the RTCP forwarded');
    viewer.sendRtp(Buffer.from([0x80, 96, 0, 1]));
    viewer.close();
    assert.equal(viewer.sendRtp(Buffer.from([0x80, 96, 0, 2])), false, 'closed');
    await until(() => threads.threads[0]?.closes.length === 1, 'the close');
    assert.equal(threads.threads[0]?.sends.length, 1, 'its last packet went before the close');
    assert.deepEqual(spread.stats().viewerTracks, [0]);
    // Its pair is free again in the allocator (after the other pairs, as always).
    const next = await open(spread, ports);
    assert.equal(next.serverPorts[0], 30_002);
  });

  it('opens a dead worker’s viewers again on its successor, same ports and client', async () => {
    const { threads, spread, ports } = setup();
    const incoming = recorder();
    const hit = await open(spread, ports, incoming);
    const spared = await open(spread, ports);
    threads.crash(0);
    // Down: accepted (the path must not treat it as slow), counted as lost.
    assert.equal(hit.sendRtp(Buffer.from([0x80, 96, 0, 1])), true);
    assert.equal(hit.lost, 1);
    assert.equal(spared.sendRtp(Buffer.from([0x80, 96, 0, 1])), true);
    assert.equal(spared.lost, 0);
    // A viewer set up meanwhile goes to the live worker.
    assert.equal((await open(spread, ports)).worker, 1);
    const successor = threads.restart(0);
    await until(() => spread.stats().reopened === 1, 'the reopen');
    assert.deepEqual(
      successor.opens.map((o) => [o.viewer, o.port, o.client]),
      [[hit.viewer, hit.serverPorts[0], CLIENT]],
    );
    assert.equal(incoming.reopens, 1, 'told, so that it restarts at a keyframe');
    hit.sendRtp(Buffer.from([0x80, 96, 0, 2]));
    await until(() => successor.sends.length === 1, 'packets to the successor');
    assert.equal(hit.lost, 1);
  });

  it('ends the session of a viewer whose ports the successor cannot bind, and counts it', async () => {
    const { threads, spread, ports } = setup(1);
    const incoming = recorder();
    const viewer = await open(spread, ports, incoming);
    threads.crash(0);
    const successor = new ScriptedWorker();
    successor.taken.add(viewer.serverPorts[0]);
    threads.restart(0, successor);
    await until(() => incoming.ended.length === 1, 'the session ended');
    assert.match(
      incoming.ended[0] ?? '',
      /media worker 0 restarted and its port pair 30000-30001 is taken/,
    );
    assert.deepEqual(spread.stats(), { viewerTracks: [1], reopened: 0, reopenFailed: 1 });
    // The session's end closes the track (as RtspSession.close does): its pair is let go.
    viewer.close();
    await until(() => successor.closes.length === 1, 'the close');
    assert.deepEqual(spread.stats().viewerTracks, [0]);
  });

  it('keeps a viewer reopening through a second crash, and opens it on the next successor', async () => {
    const { threads, spread, ports } = setup(1);
    const incoming = recorder();
    const viewer = await open(spread, ports, incoming);
    threads.crash(0);
    // The next successor never answers, then dies too.
    const silent = new ScriptedWorker();
    silent.answers = false;
    threads.restart(0, silent);
    await until(() => silent.opens.length === 1, 'the reopen sent to it');
    threads.crash(0);
    const last = threads.restart(0);
    await until(() => spread.stats().reopened === 1, 'the reopen on the last successor');
    assert.deepEqual(incoming.ended, []);
    assert.equal(last.opens[0]?.port, viewer.serverPorts[0]);
    silent.end();
  });

  it('serves the viewer on main when its worker ends before it answers', async () => {
    const { threads, spread, ports } = setup(1);
    const worker = threads.threads[0];
    assert.ok(worker);
    worker.answers = false;
    const opening = spread.open(ports, '127.0.0.1', CLIENT, recorder().handlers);
    await until(() => worker.opens.length === 1, 'the open sent');
    threads.crash(0);
    assert.equal(await opening, undefined);
    assert.deepEqual(spread.stats().viewerTracks, [0]);
    // And with no worker up at all, at once.
    assert.equal(await spread.open(ports, '127.0.0.1', CLIENT, recorder().handlers), undefined);
  });
});
