/**
 * A signaling node leaving, with real processes (issue 18 points 4 and 5):
 * `streammesh up` runs a control plane and three signaling nodes on
 * 127.0.0.11-13 (signaling.instances, one worker each), and three demo
 * pages in one headless Chromium (small video) share a room, one page per
 * node.
 *
 * - SIGKILL of node A: the two other pages keep receiving each other (no
 *   long gap); A's page sees its socket drop, cannot reach A (`up`
 *   restarts it, but that takes seconds) and joins through a door of its
 *   last join answer, publishing and consuming again;
 *   the time from the kill to its first frame decoded again is measured and
 *   printed. The survivors hold no pipe to the dead node (their GET /pipes).
 *   `up` restarts A on its own address: that node serves no one afterwards.
 * - `streammesh drain <node>` of a node holding one page: the page is asked
 *   to `move`, joins another node, and closes its old connection; the
 *   longest gap in frames decoded (its own of the others, the others' of
 *   it) is measured and printed. SIGTERM of the drained node then exits 0
 *   (up says so, and restarts it).
 * - SIGTERM of a node serving pages, without `streammesh drain`: it drains
 *   (signaling.drainTimeoutSec), its pages move and decode again, and it
 *   exits 0 as soon as it is empty, well before its deadline.
 * - SIGSTOP of a node serving pages, the stand-in for a host that vanished
 *   (its sockets stay open, nothing answers, no close comes): its pages
 *   notice by their own pings going unanswered, join again through a door
 *   and decode again (the time to media is printed). SIGCONT after.
 *
 * Measured figures are printed as `# <name>: <value>`. Each page samples its
 * stats every 200 ms (?statsMs=200), so gaps are measured to ~0.3 s.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { bearer, newAdminToken } from '../../helpers/admin-token.js';
import { ephemeralMeshConfig, writeTempConfig } from '../../helpers/mesh-config.js';
import { runStreammesh, startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { waitForFullDirectory } from '../../helpers/signaling-mesh-admin.js';
import {
  closeAllChromium,
  launchChromium,
  requireChromium,
  type ChromiumPeer,
} from '../../helpers/peers/chromium.js';
import {
  DEMO_CHROMIUM_ARGS,
  clickJoin,
  demoSnapshot,
  openDemoPage,
  waitForDemo,
  type DemoPage,
  type DemoSnapshot,
} from '../../helpers/peers/demo-page.js';

const NODES = [
  { id: 'sfu-a', host: '127.0.0.11' },
  { id: 'sfu-b', host: '127.0.0.12' },
  { id: 'sfu-c', host: '127.0.0.13' },
] as const;
type NodeId = (typeof NODES)[number]['id'];
const ROOM = 'leaving';
/** A survivor's longest gap in frames from another survivor while A dies (sampling is 200 ms). */
const SURVIVOR_GAP_BOUND_MS = 3_000;
const BACK_WITH_MEDIA_BOUND_MS = 20_000;
/** "A short freeze": the move is make-before-break. */
const MOVE_GAP_BOUND_MS = 5_000;
/** signaling.drainTimeoutSec: what SIGTERM drains for at most. */
const DRAIN_TIMEOUT_SEC = 20;

interface NodeProcess {
  readonly id: NodeId;
  readonly admin: string;
  readonly demo: string;
}

interface PipesView {
  readonly rooms: readonly { readonly room: string; readonly pipes: readonly { peer: string }[] }[];
}

/**
 * When each inbound video stream of a page last showed a new frame decoded,
 * sampled by polling: per source (a label for whose video it is), the times
 * frames grew, from which the longest gap over a window is read.
 */
class FrameWatch {
  /** Frames decoded so far, by stream id. */
  readonly #frames = new Map<string, number>();
  /** When (performance.now()) which stream of a source showed new frames, by source. */
  readonly #progress = new Map<string, { readonly at: number; readonly stream: string }[]>();

  /** Reads one snapshot taken at `at`; `sourceOf` names whose video a stream owner is. */
  observe(snapshot: DemoSnapshot, at: number, sourceOf: (owner: string) => string): void {
    for (const stream of snapshot.stats) {
      if (stream.direction !== 'inbound' || stream.kind !== 'video') continue;
      const frames = stream.frames ?? 0;
      const before = this.#frames.get(stream.id) ?? 0;
      this.#frames.set(stream.id, Math.max(before, frames));
      if (frames <= before) continue;
      const source = sourceOf(stream.owner);
      const times = this.#progress.get(source) ?? [];
      times.push({ at, stream: stream.id });
      this.#progress.set(source, times);
    }
  }

  /** The streams seen so far (consumers: a new connection's are new ones). */
  streams(): ReadonlySet<string> {
    return new Set(this.#frames.keys());
  }

  /**
   * The first time after `from` that `source` showed new frames, on a
   * stream not in `old` if given (a sample read after `from` may still
   * count frames decoded before it: only a new consumer's are new media).
   */
  firstAfter(source: string, from: number, old?: ReadonlySet<string>): number | undefined {
    return this.#progress
      .get(source)
      ?.find((entry) => entry.at > from && old?.has(entry.stream) !== true)?.at;
  }

  /** The longest stretch in [from, to] with no new frame from `source`. */
  longestGap(source: string, from: number, to: number): number {
    const times = (this.#progress.get(source) ?? [])
      .map((entry) => entry.at)
      .filter((at) => at > from && at <= to);
    let longest = 0;
    let previous = from;
    for (const at of [...times, to]) {
      longest = Math.max(longest, at - previous);
      previous = at;
    }
    return longest;
  }
}

describe(
  'a signaling node leaving: SIGKILL and drain, with demo pages',
  { timeout: 300_000 },
  () => {
    let up: Running;
    const adminToken = newAdminToken();
    let controlPlane = '';
    let configFile = '';
    const nodes = new Map<NodeId, NodeProcess>();
    let chromium: ChromiumPeer;
    /** The pages by the node they first joined through. */
    const pages = new Map<NodeId, DemoPage>();
    const watches = new Map<NodeId, FrameWatch>();
    /** Each page's display name and its peer names so far (a move or a re-join may change it). */
    const selves = new Map<NodeId, Set<string>>();
    let polling: NodeJS.Timeout | undefined;
    let pollBusy = false;

    const nodeOf = (id: NodeId): NodeProcess => {
      const found = nodes.get(id);
      assert.ok(found !== undefined, `${id} runs`);
      return found;
    };
    const pageOf = (id: NodeId): DemoPage => {
      const found = pages.get(id);
      assert.ok(found !== undefined, `a page joined through ${id}`);
      return found;
    };
    /** Whose page a peer name is (the id of the node the page first joined through). */
    const sourceOf = (owner: string): string => {
      for (const [id, names] of selves) if (names.has(owner)) return id;
      return `unknown:${owner}`;
    };
    const watchOf = (id: NodeId): FrameWatch => {
      const found = watches.get(id);
      assert.ok(found !== undefined);
      return found;
    };
    const pidOf = async (id: NodeId): Promise<number> => {
      const answer = await fetch(`${nodeOf(id).admin}/healthz`);
      return ((await answer.json()) as { pid: number }).pid;
    };
    const metric = async (id: NodeId, name: string): Promise<number> => {
      const text = await (await fetch(`${nodeOf(id).admin}/metrics`)).text();
      // With the registry's default labels: `name{role="signaling"} value`.
      const line = text
        .split('\n')
        .find((row) => row.startsWith(`${name}{`) || row.startsWith(`${name} `));
      return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    /** How many peers each live node serves (streammesh_signaling_peers); a node down is left out. */
    const peersPerNode = async (): Promise<Map<NodeId, number>> => {
      const counts = new Map<NodeId, number>();
      for (const { id } of NODES) {
        try {
          counts.set(id, await metric(id, 'streammesh_signaling_peers'));
        } catch {
          // Down (killed, or restarting).
        }
      }
      return counts;
    };
    /** Waits until the live nodes serve the three pages in all (none between two nodes); how many each. */
    const settledPeers = (): Promise<Map<NodeId, number>> =>
      waitFor(
        async () => {
          const counts = await peersPerNode();
          const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
          return total === NODES.length ? counts : undefined;
        },
        20_000,
        () => 'three peers in all on the live nodes',
      );
    /** The live node serving the most pages. */
    const busiest = (counts: ReadonlyMap<NodeId, number>): NodeId => {
      const [target] = [...counts.entries()].sort((x, y) => y[1] - x[1])[0] ?? [];
      assert.ok(target !== undefined);
      return target;
    };
    /** The `count` pages `node` serves: those whose peer names its stream metrics carry. */
    const pagesServedBy = (node: NodeId, count: number): Promise<NodeId[]> =>
      waitFor(
        async () => {
          const held = await (await fetch(`${nodeOf(node).admin}/metrics`)).text();
          const found: NodeId[] = [];
          for (const [id, page] of pages) {
            const { peer } = await demoSnapshot(page.page);
            if (peer !== null && held.includes(`peer="${peer}"`)) found.push(id);
          }
          return found.length === count ? found : undefined;
        },
        10_000,
        () => `the pages ${node} serves`,
      );
    /**
     * Waits until each of `movers` decodes every other page, and is decoded
     * by it, through consumers made since `since` (streams not in `old`).
     */
    const decodeEachOtherSince = (
      movers: readonly NodeId[],
      since: number,
      old: ReadonlyMap<NodeId, ReadonlySet<string>>,
      timeoutMs: number,
      what: () => string,
    ): Promise<true> =>
      waitFor(
        () =>
          movers.every((mover) =>
            NODES.filter(({ id }) => id !== mover).every(
              ({ id: other }) =>
                watchOf(mover).firstAfter(other, since, old.get(mover)) !== undefined &&
                watchOf(other).firstAfter(mover, since, old.get(other)) !== undefined,
            ),
          )
            ? true
            : undefined,
        timeoutMs,
        what,
      );
    /** The names of the events a page logged since `wall` (Date.now()). */
    const eventsSince = async (id: NodeId, wall: number): Promise<string[]> =>
      (await demoSnapshot(pageOf(id).page)).events
        .filter((event) => event.at >= wall)
        .map((event) => event.name);

    /** Snapshots every page, records new frames, and learns each page's current peer name. */
    const poll = async (): Promise<void> => {
      const taken: [NodeId, DemoSnapshot, number][] = [];
      for (const [id, page] of pages) {
        try {
          taken.push([id, await demoSnapshot(page.page), performance.now()]);
        } catch {
          // A page busy navigating or closing: the next round.
        }
      }
      // Names first: a page's new name is known before the others' streams of it are read.
      for (const [id, snapshot] of taken)
        if (snapshot.peer !== null) selves.get(id)?.add(snapshot.peer);
      for (const [id, snapshot, at] of taken) watchOf(id).observe(snapshot, at, sourceOf);
    };

    before(async () => {
      requireChromium();
      configFile = writeTempConfig(
        ephemeralMeshConfig(
          [
            '  workers: 1',
            `  drainTimeoutSec: ${DRAIN_TIMEOUT_SEC}`,
            '  rtcPorts: { start: 47200, end: 47299 }',
            '  instances:',
            ...NODES.map(({ id, host }) => `    - { id: ${id}, host: ${host} }`),
          ].join('\n'),
        ),
      );
      up = startStreammesh(['up', '--config', configFile], { STREAMMESH_ADMIN_TOKEN: adminToken });
      controlPlane = (await up.waitForOutput(/^control-plane +ready +(\S+)$/m, 30_000))[1] ?? '';
      for (const { id } of NODES) {
        const match = await up.waitForOutput(
          new RegExp(`^${id} +ready +(\\S+)\\n +demo page +(\\S+)$`, 'm'),
          60_000,
        );
        nodes.set(id, { id, admin: match[1] ?? '', demo: match[2] ?? '' });
      }
      // Every node's directory names all three: doors and moves choose among them.
      await waitForFullDirectory(
        controlPlane,
        NODES.map(({ id }) => id),
        { headers: bearer(adminToken), timeoutMs: 20_000 },
      );
      chromium = await launchChromium({ timeoutMs: 290_000, extraArgs: DEMO_CHROMIUM_ARGS });
      for (const { id } of NODES) {
        const name = `page-${id}`;
        const page = await openDemoPage(
          chromium,
          `${nodeOf(id).demo}?room=${ROOM}&name=${name}&video=small&statsMs=200`,
        );
        pages.set(id, page);
        watches.set(id, new FrameWatch());
        selves.set(id, new Set());
      }
      for (const page of pages.values()) await clickJoin(page);
      await Promise.all(
        [...pages.entries()].map(([id, page]) =>
          waitForDemo(
            page,
            `${id}'s page joined with both others`,
            (s) => s.joined && s.peers.length === 2,
            30_000,
          ),
        ),
      );
      polling = setInterval(() => {
        if (pollBusy) return;
        pollBusy = true;
        void poll().finally(() => {
          pollBusy = false;
        });
      }, 150);
      // Everyone decodes everyone.
      await waitFor(
        () => {
          const now = performance.now();
          for (const { id } of NODES) {
            for (const { id: other } of NODES) {
              if (other !== id && watchOf(id).firstAfter(other, 0) === undefined) return undefined;
            }
          }
          return now;
        },
        45_000,
        () => 'every page to decode both others',
      );
    });

    after(async () => {
      clearInterval(polling);
      await closeAllChromium();
      await up.stop('SIGTERM', 10_000);
    });

    it('SIGKILL of a node: its page is back with media through a door, the others never stop, no pipe to it is left', async () => {
      const pidA = await pidOf('sfu-a');
      // Media back means new consumers: the streams of the connections before the kill are old.
      const old = new Map(NODES.map(({ id }) => [id, watchOf(id).streams()]));
      const killedAt = performance.now();
      const killedWall = Date.now();
      process.kill(pidA, 'SIGKILL');
      const back = await waitFor(
        () => {
          const own = (['sfu-b', 'sfu-c'] as const).map((other) =>
            watchOf('sfu-a').firstAfter(other, killedAt, old.get('sfu-a')),
          );
          const seen = (['sfu-b', 'sfu-c'] as const).map((id) =>
            watchOf(id).firstAfter('sfu-a', killedAt, old.get(id)),
          );
          if ([...own, ...seen].some((at) => at === undefined)) return undefined;
          return own as number[];
        },
        BACK_WITH_MEDIA_BOUND_MS,
        () => "the killed node's page to decode the others again, and they it",
      );
      const firstFrame = Math.min(...back);
      console.log(`# time-to-media-after-kill-ms: ${Math.round(firstFrame - killedAt)}`);
      const settled = performance.now();
      const survivorGap = Math.max(
        watchOf('sfu-b').longestGap('sfu-c', killedAt, settled),
        watchOf('sfu-c').longestGap('sfu-b', killedAt, settled),
      );
      console.log(`# survivors-longest-frame-gap-ms: ${Math.round(survivorGap)}`);
      assert.ok(
        survivorGap < SURVIVOR_GAP_BOUND_MS,
        `the survivors kept receiving each other (longest gap ${Math.round(survivorGap)} ms)`,
      );
      const events = await eventsSince('sfu-a', killedWall);
      console.log(`# killed-node-page-events: ${events.join(',')}`);
      assert.ok(events.includes('joined'), `the page joined again: ${events.join(',')}`);
      // Its first re-join (250 ms after the drop) finds A down: up cannot have
      // restarted it by then (a node takes seconds to start), so it took a door.
      assert.ok(events.includes('door'), `the page tried a door: ${events.join(',')}`);

      // The survivors hold no pipe to the dead node (its restarted self serves no one).
      for (const id of ['sfu-b', 'sfu-c'] as const) {
        await waitFor(
          async () => {
            const view = (await (await fetch(`${nodeOf(id).admin}/pipes`)).json()) as PipesView;
            const toA = view.rooms
              .flatMap((room) => room.pipes)
              .filter((pipe) => pipe.peer === 'sfu-a');
            return toA.length === 0 ? true : undefined;
          },
          10_000,
          () => `${id} to hold no pipe to sfu-a`,
        );
      }
      const where = await settledPeers();
      console.log(`# peers-per-node-after-kill: ${JSON.stringify(Object.fromEntries(where))}`);
    });

    it('`streammesh drain` of a node: its page moves with a short freeze; SIGTERM then exits 0', async () => {
      // The node that serves exactly one page, and which page that is.
      const counts = await peersPerNode();
      const drained = (['sfu-b', 'sfu-c'] as const).find((id) => counts.get(id) === 1);
      assert.ok(drained !== undefined, `a node with one page: ${JSON.stringify([...counts])}`);
      const [mover] = await pagesServedBy(drained, 1);
      assert.ok(mover !== undefined);
      const others = NODES.map(({ id }) => id).filter((id) => id !== mover);
      const old = new Map(NODES.map(({ id }) => [id, watchOf(id).streams()]));
      const drainedAt = performance.now();
      const result = await runStreammesh(
        ['drain', drained, '--deadline', '60s', '--config', configFile],
        {
          STREAMMESH_ADMIN_TOKEN: adminToken,
          STREAMMESH_CONTROL_PLANE_ADMIN: new URL(controlPlane).host,
        },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^${drained} draining until \\d{4}-`, 'm'));
      // The page moved: the drained node serves no one, the page got `move` and decodes again.
      await waitFor(
        async () =>
          (await metric(drained, 'streammesh_signaling_peers')) === 0 ? true : undefined,
        20_000,
        () => `${drained} to serve no one`,
      );
      const snapshot = await demoSnapshot(pageOf(mover).page);
      assert.ok(
        snapshot.events.some((event) => event.name === 'move' && event.at > Date.now() - 60_000),
        `the page was asked to move: ${snapshot.events.map((event) => event.name).join(',')}`,
      );
      // Media again through the new connection: the mover's new consumers, the others' of it.
      await decodeEachOtherSince(
        [mover],
        drainedAt,
        old,
        15_000,
        () => 'the moved page and the others to decode each other through new consumers',
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const settled = performance.now();
      const gaps = [
        ...others.map((other) => watchOf(mover).longestGap(other, drainedAt, settled)),
        ...others.map((other) => watchOf(other).longestGap(mover, drainedAt, settled)),
      ];
      const longest = Math.max(...gaps);
      console.log(`# move-longest-frame-gap-ms: ${Math.round(longest)}`);
      console.log(`# move-frame-gaps-ms: ${gaps.map((gap) => Math.round(gap)).join(',')}`);
      assert.ok(longest < MOVE_GAP_BOUND_MS, `a short freeze at most: ${Math.round(longest)} ms`);

      // SIGTERM of the drained node, now empty: it stops by itself, exit 0 (up restarts it).
      const pid = await pidOf(drained);
      const stoppedAt = performance.now();
      process.kill(pid, 'SIGTERM');
      await up.waitForOutput(
        new RegExp(`^${drained} exited \\(code 0\\); restarting`, 'm'),
        20_000,
      );
      console.log(
        `# sigterm-of-drained-node-exit-ms: ${Math.round(performance.now() - stoppedAt)}`,
      );
    });

    it('SIGTERM of a node serving pages: they move, and it exits 0 once empty, before its drain deadline', async () => {
      // The live node serving the most pages, and which pages those are.
      const counts = await settledPeers();
      const target = busiest(counts);
      const movers = await pagesServedBy(target, counts.get(target) ?? 0);
      const exits = (): number =>
        up.stdout().match(new RegExp(`^${target} exited \\(code 0\\)`, 'gm'))?.length ?? 0;
      const exitsBefore = exits();
      const old = new Map(NODES.map(({ id }) => [id, watchOf(id).streams()]));
      const pid = await pidOf(target);
      const termAt = performance.now();
      const termWall = Date.now();
      process.kill(pid, 'SIGTERM');
      // It drains (signaling.drainTimeoutSec: 20 s) and stops as soon as its pages are gone.
      await waitFor(
        () => (exits() > exitsBefore ? true : undefined),
        DRAIN_TIMEOUT_SEC * 1000 + 10_000,
        () => `${target} to exit 0:\n${up.stdout().slice(-2000)}`,
      );
      const exitedAfter = performance.now() - termAt;
      console.log(`# sigterm-with-${movers.length}-pages-exit-ms: ${Math.round(exitedAfter)}`);
      assert.ok(
        exitedAfter < DRAIN_TIMEOUT_SEC * 1000 - 5_000,
        `it stopped once empty, not at its deadline (${Math.round(exitedAfter)} ms)`,
      );
      // The pages it served decode the others again through new consumers, and are decoded.
      await decodeEachOtherSince(
        movers,
        termAt,
        old,
        15_000,
        () => 'the moved pages and the others to decode each other again',
      );
      // This SIGTERM's move: the page's log also holds the earlier drain's.
      for (const mover of movers) {
        const events = await eventsSince(mover, termWall);
        assert.ok(
          events.includes('move'),
          `${mover}'s page was asked to move: ${events.join(',')}`,
        );
      }
    });

    it('a node that stops answering (SIGSTOP: its host gone): its pages notice by their pings and come back through a door', async () => {
      const counts = await settledPeers();
      const target = busiest(counts);
      const stranded = await pagesServedBy(target, counts.get(target) ?? 0);
      const old = new Map(NODES.map(({ id }) => [id, watchOf(id).streams()]));
      const pid = await pidOf(target);
      // The node and its mediasoup workers (its children): all of it stops, as a host would.
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
        .split(' ')
        .filter((text) => text.trim() !== '')
        .map(Number);
      const stopped = [pid, ...children];
      const stoppedAt = performance.now();
      const stoppedWall = Date.now();
      // The processes keep their sockets open and answer nothing: no close, no
      // RST reaches the pages, as when a host vanishes.
      for (const each of stopped) process.kill(each, 'SIGSTOP');
      const pageEvents = async (page: NodeId): Promise<string> => {
        const snapshot = await demoSnapshot(pageOf(page).page);
        const status = await pageOf(page).page.evaluate(
          () =>
            (
              globalThis as unknown as {
                document: { getElementById(id: string): { textContent: string | null } | null };
              }
            ).document.getElementById('status')?.textContent ?? '',
        );
        const events = snapshot.events
          .slice(-20)
          .map(
            (event) =>
              `${event.name}${event.at >= stoppedWall ? '+' : ''}${event.at - stoppedWall}`,
          );
        return `${page}: joined=${String(snapshot.joined)} peers=${snapshot.peers.join('/')} events=${events.join(',')} errors=${snapshot.errors.join(' | ')} status=${status}`;
      };
      try {
        await decodeEachOtherSince(
          stranded,
          stoppedAt,
          old,
          BACK_WITH_MEDIA_BOUND_MS + 10_000,
          () => `the pages of the stopped ${target} to decode the others again, and they them`,
        ).catch(async (error: unknown) => {
          for (const page of NODES) console.log(`# ${await pageEvents(page.id)}`);
          throw error;
        });
        console.log(
          `# time-to-media-after-sigstop-ms: ${Math.round(performance.now() - stoppedAt)}`,
        );
        for (const page of stranded) {
          const events = await eventsSince(page, stoppedWall);
          console.log(`# stopped-node-page-events: ${events.join(',')}`);
          assert.ok(events.includes('joined'), `${page}'s page joined again: ${events.join(',')}`);
        }
      } finally {
        for (const each of stopped) process.kill(each, 'SIGCONT');
      }
    });
  },
);
