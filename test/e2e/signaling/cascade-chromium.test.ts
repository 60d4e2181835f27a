/**
 * One room across three signaling nodes through `streammesh up` (issue 18,
 * first test): examples/sfu-mesh.yaml as written (sfu-a, sfu-b and sfu-c on
 * 127.0.0.11-13), except that every TCP listener takes port 0 through the
 * environment (STREAMMESH_*_ADMIN, _LISTEN, _GRPC, _CASCADE_LISTEN), so the
 * file runs beside other tests; examples.test.ts runs it on its fixed ports.
 *
 * Two pages of one headless Chromium open the demo page of sfu-a and of
 * sfu-b (the URLs `up` printed for each), join one room through the form
 * with their fake cameras (10 fps: light on a shared machine), and each
 * decodes the other's video, which crosses the pipe between the two nodes
 * (framesDecoded, sampled in the page, grows). A werift subscriber joined
 * through sfu-c receives both pages' video RTP, key frames included (a PLI
 * crosses the pipe to the page that sends). The control plane's GET /rooms
 * then shows one participant on each node and a pipe between each pair.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getJson } from '../../helpers/http.js';
import { meshUp, type MeshUp } from '../../helpers/mesh-up.js';
import { repoRoot, waitFor } from '../../helpers/process.js';
import {
  LIGHT_FAKE_CAMERA_ARGS,
  closeAllChromium,
  launchChromium,
  type ChromiumPeer,
} from '../../helpers/peers/chromium.js';
import {
  DEMO_CHROMIUM_ARGS,
  clickJoin,
  inboundVideo,
  openDemoPage,
  waitForDemo,
  type DemoPage,
  type DemoSnapshot,
} from '../../helpers/peers/demo-page.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  WeriftSubscriber,
  signalingChannel,
  type RtpReception,
} from '../../helpers/peers/werift-signaling.js';
import { SignalingClient, type Frame } from '../../helpers/signaling-client.js';

const EXAMPLE = join(repoRoot, 'examples', 'sfu-mesh.yaml');
const NODES = { 'sfu-a': '127.0.0.11', 'sfu-b': '127.0.0.12', 'sfu-c': '127.0.0.13' } as const;
type NodeId = keyof typeof NODES;
const ROOM = 'across-three';

interface ProducerInfo {
  readonly peer: string;
  readonly producerId: string;
  readonly kind: string;
}

/** The demo page URL `up` printed under a node's ready line. */
function demoPageOf(output: string, id: NodeId): string | undefined {
  const block = new RegExp(`^${id} +ready +\\S+\\n((?: {14}\\S.*\\n)*)`, 'm').exec(output);
  return /^ +demo page +(\S+)$/m.exec(block?.[1] ?? '')?.[1];
}

describe(
  'a room across three signaling nodes of examples/sfu-mesh.yaml',
  { timeout: 150_000 },
  () => {
    let mesh: MeshUp;
    let controlPlane = '';
    const pages = new Map<NodeId, string>();
    let chromium: ChromiumPeer;
    let alice: DemoPage;
    let bob: DemoPage;
    let alicePeer = '';
    let bobPeer = '';
    let carol: SignalingClient | undefined;
    let subscriber: WeriftSubscriber | undefined;

    before(async () => {
      mesh = await meshUp(EXAMPLE, { STREAMMESH_SIGNALING_CASCADE_LISTEN: '127.0.0.1:0' });
      controlPlane =
        (await mesh.up.waitForOutput(/^control-plane +ready +(http:\/\/\S+)$/m, 30_000))[1] ?? '';
      for (const id of Object.keys(NODES) as NodeId[]) {
        const page = await waitFor(
          () => demoPageOf(mesh.up.stdout(), id),
          30_000,
          () => `${id}'s demo page URL, got:\n${mesh.up.stdout()}`,
        );
        pages.set(id, page);
      }
      chromium = await launchChromium({
        timeoutMs: 140_000,
        extraArgs: [...DEMO_CHROMIUM_ARGS, ...LIGHT_FAKE_CAMERA_ARGS],
      });
    });

    after(async () => {
      await subscriber?.close();
      await carol?.close();
      await closeAllChromium();
      await stopAllPeers();
      await mesh.stop();
    });

    const page = (id: NodeId): string => {
      const url = pages.get(id);
      assert.ok(url !== undefined, `${id} printed its demo page`);
      return url;
    };

    it('prints each node on its own address with its demo page', () => {
      for (const [id, host] of Object.entries(NODES)) {
        assert.match(
          page(id as NodeId),
          new RegExp(`^http://${host.replaceAll('.', '\\.')}:\\d+/$`),
        );
      }
    });

    it('two Chromium pages on the demo pages of sfu-a and sfu-b decode each other', async (t) => {
      alice = await openDemoPage(chromium, `${page('sfu-a')}?room=${ROOM}&name=alice`);
      bob = await openDemoPage(chromium, `${page('sfu-b')}?room=${ROOM}&name=bob`);
      await clickJoin(alice);
      await waitForDemo(alice, 'alice joined', (s) => s.joined, 20_000);
      const secondJoin = Date.now();
      await clickJoin(bob);
      const [aliceJoined, bobJoined] = await Promise.all([
        waitForDemo(alice, 'alice sees bob', (s) => s.joined && s.peers.length === 1, 20_000),
        waitForDemo(bob, 'bob sees alice', (s) => s.joined && s.peers.length === 1, 20_000),
      ]);
      alicePeer = aliceJoined.peer ?? '';
      bobPeer = bobJoined.peer ?? '';
      assert.deepEqual(aliceJoined.peers, [bobPeer]);
      assert.deepEqual(bobJoined.peers, [alicePeer]);

      const frames = (snapshot: DemoSnapshot, other: string): number =>
        inboundVideo(snapshot, other)?.frames ?? 0;
      const decoding = async (demo: DemoPage, name: string, other: string): Promise<void> => {
        const first = await waitForDemo(
          demo,
          `${name} decodes ${other}`,
          (s) => frames(s, other) > 0,
          30_000,
        );
        await waitForDemo(
          demo,
          `${name} decodes more of ${other}`,
          (s) => frames(s, other) > frames(first, other),
          10_000,
        );
      };
      await Promise.all([decoding(alice, 'alice', bobPeer), decoding(bob, 'bob', alicePeer)]);
      t.diagnostic(`both pages decoding each other ${Date.now() - secondJoin} ms after bob's Join`);
    });

    it('a werift subscriber joined through sfu-c receives both pages’ video', async () => {
      assert.ok(alicePeer !== '' && bobPeer !== '', 'the pages joined');
      const wsUrl = page('sfu-c').replace(/^http:/, 'ws:') + 'ws';
      const client = await SignalingClient.open(wsUrl);
      carol = client;
      const producers: ProducerInfo[] = [];
      const answer = await client.request('join', { room: ROOM, peer: 'carol' });
      assert.equal(answer.ok, true, JSON.stringify(answer.error));
      producers.push(...((answer.data?.['producers'] ?? []) as ProducerInfo[]));
      const videoOf = (peer: string): string | undefined =>
        producers.find((p) => p.peer === peer && p.kind === 'video')?.producerId;
      // What the answer did not list yet (the other nodes' share) comes as newProducer.
      while (videoOf(alicePeer) === undefined || videoOf(bobPeer) === undefined) {
        const event: Frame = await client.take(
          (frame) => frame.event === 'newProducer',
          `newProducer of the pages (have ${JSON.stringify(producers)})`,
        );
        producers.push(event.data as unknown as ProducerInfo);
      }
      const wanted = [videoOf(alicePeer) ?? '', videoOf(bobPeer) ?? ''];
      subscriber = await WeriftSubscriber.open(signalingChannel(client));
      const receptions = await subscriber.consume(wanted);
      const received = (): number[] => receptions.map((r: RtpReception) => r.received);
      const first = await waitFor(
        () => (receptions.every((r) => r.received > 0 && r.keyframes > 0) ? received() : undefined),
        15_000,
        () => `RTP with a key frame from both pages at sfu-c: ${JSON.stringify(received())}`,
      );
      await waitFor(
        () => (receptions.every((r, i) => r.received > (first[i] ?? 0)) ? true : undefined),
        5_000,
        () => `RTP from both pages keeps coming: ${JSON.stringify(received())}`,
      );
      assert.equal(subscriber.unrouted, 0, 'no RTP of an SSRC carol does not consume');
    });

    it("the control plane's /rooms: one participant on each node, a pipe between each pair", async () => {
      interface RoomView {
        readonly room: string;
        readonly nodes: readonly { node: string; peers: number }[];
        readonly pipes: readonly { a: { node: string }; b: { node: string } }[];
      }
      const view = await waitFor(
        async () => {
          const { body } = await getJson<{ rooms: RoomView[] }>(`${controlPlane}/rooms`);
          const found = body.rooms.find((entry) => entry.room === ROOM);
          return found?.nodes.length === 3 && found.pipes.length === 3 ? found : undefined;
        },
        10_000,
        () => `${ROOM} on three nodes with three pipes in /rooms`,
      );
      // Each page was served by the node it opened (no `moved`), carol by sfu-c.
      assert.deepEqual(
        view.nodes.map((share) => [share.node, share.peers]).sort(),
        Object.keys(NODES).map((id) => [id, 1]),
      );
      assert.deepEqual(
        view.pipes.map((pipe) => [pipe.a.node, pipe.b.node].sort().join('~')).sort(),
        ['sfu-a~sfu-b', 'sfu-a~sfu-c', 'sfu-b~sfu-c'],
      );
    });
  },
);
