import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DemoSource, defaultDemoClipPath } from '../../../rtp-proxy/media/rtsp/demo-source.js';
import type { SourceDescription, SourceListener } from '../../../src/media/source/media-source.js';
import {
  ntpFromUnixMs,
  parseRtcpCompound,
  SenderReport,
} from '../../../src/protocol/rtcp/index.js';
import { RtpPacket } from '../../../src/protocol/rtp/index.js';
import { attributes, serializeSdp } from '../../../src/protocol/sdp/index.js';
import {
  groupAccessUnits,
  H264NalType,
  nalUnitType,
  splitAnnexB,
} from '../../../src/protocol/video/index.js';
import { parseFrameHashes, startRtpReceiver } from '../../helpers/peers/ffmpeg.js';
import {
  freeUdpPortPair,
  requirePeer,
  sleep,
  spawnPeer,
  stopAllPeers,
} from '../../helpers/peers/process.js';

after(stopAllPeers);

// Captured before any test mocks the timers: deadlines stay real.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

const clipPath = defaultDemoClipPath();
const CLIP_FRAMES = 100; // assets/README.md; h264-annexb.test.ts checks it against ffprobe
const FRAME_MS = 40;
const FRAME_TICKS = 3600;

interface Recording {
  readonly listener: SourceListener;
  readonly ready: SourceDescription[];
  readonly rtp: Buffer[];
  readonly rtcp: Buffer[];
  readonly down: string[];
  /** Resolves once `check()` holds after some event; rejects after `timeoutMs` (real time). */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void>;
}

function record(
  options: { onRtp?: (packet: Buffer) => void; onRtcp?: (packet: Buffer) => void } = {},
): Recording {
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of waiters) waiter();
  };
  const recording: Recording = {
    ready: [],
    rtp: [],
    rtcp: [],
    down: [],
    listener: {
      ready(description) {
        recording.ready.push(description);
        wake();
      },
      rtp(track, packet) {
        assert.equal(track, 0);
        recording.rtp.push(packet);
        options.onRtp?.(packet);
        wake();
      },
      rtcp(track, packet) {
        assert.equal(track, 0);
        recording.rtcp.push(packet);
        options.onRtcp?.(packet);
        wake();
      },
      down(reason) {
        recording.down.push(reason);
        wake();
      },
    },
    until(check, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const finish = (): void => {
          if (!check()) return;
          waiters.delete(finish);
          realClearTimeout(timer);
          resolve();
        };
        const timer = realSetTimeout(() => {
          waiters.delete(finish);
          reject(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(finish);
        finish();
      });
    },
  };
  return recording;
}

/** The clip's parameter sets and pictures as the source should send them (no AUDs). */
function clipPictures(): { sps: Buffer; pps: Buffer; pictures: Buffer[][] } {
  const nals = splitAnnexB(readFileSync(clipPath));
  const sps = nals.find((nal) => nalUnitType(nal) === H264NalType.SPS);
  const pps = nals.find((nal) => nalUnitType(nal) === H264NalType.PPS);
  assert.ok(sps !== undefined && pps !== undefined);
  const pictures = groupAccessUnits(nals).map((unit) =>
    unit.filter((nal) => nalUnitType(nal) !== H264NalType.AUD),
  );
  return { sps, pps, pictures };
}

/** Packets split into frames at the marker bit. */
function frames(packets: readonly Buffer[]): RtpPacket[][] {
  const result: RtpPacket[][] = [];
  let current: RtpPacket[] = [];
  for (const buffer of packets) {
    const packet = RtpPacket.deserialize(buffer);
    current.push(packet);
    if (packet.marker) {
      result.push(current);
      current = [];
    }
  }
  assert.equal(current.length, 0, 'the last packet sent ends a frame');
  return result;
}

describe('DemoSource', () => {
  it('describes one H.264 track with the clip’s parameter sets', { timeout: 10_000 }, async () => {
    const source = new DemoSource();
    assert.equal(source.state, 'idle');
    const recording = record();
    source.start(recording.listener);
    await recording.until(() => recording.ready.length === 1, 5_000, 'ready()');
    assert.equal(source.state, 'playing');
    assert.equal(source.transport, null);
    assert.equal(source.reconnects, 0);
    assert.equal(source.lastError, null);
    await source.close();
    assert.equal(source.state, 'closed');

    const description = recording.ready[0];
    assert.ok(description !== undefined);
    assert.deepEqual(description.tracks, [
      { index: 0, kind: 'video', encoding: 'H264', clockRate: 90_000 },
    ]);
    const media = description.sdp.media[0];
    assert.ok(media !== undefined && description.sdp.media.length === 1);
    assert.deepEqual(
      [media.kind, media.port, media.protocol, media.formats],
      ['video', 0, 'RTP/AVP', ['96']],
    );
    const { sps, pps } = clipPictures();
    assert.deepEqual(attributes(media.lines, 'rtpmap'), ['96 H264/90000']);
    assert.deepEqual(attributes(media.lines, 'fmtp'), [
      `96 packetization-mode=1;profile-level-id=${sps.subarray(1, 4).toString('hex')};` +
        `sprop-parameter-sets=${sps.toString('base64')},${pps.toString('base64')}`,
    ]);
    assert.equal(sps.subarray(1, 4).toString('hex'), '42c01e'); // constrained baseline, 3.0
    assert.deepEqual(attributes(media.lines, 'control'), ['trackID=0']);
    assert.throws(() => source.start(recording.listener), { code: 'ERR_SOURCE_STATE' });
  });

  it(
    'paces frames by the clock and loops with continuous timestamps, sequence numbers and SRs',
    { timeout: 15_000 },
    async (t) => {
      t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
      const startMs = 1_700_000_000_000;
      let now = startMs;
      const sentAt: number[] = [];
      const rtcpAt: { at: number; packetsBefore: number }[] = [];
      const recording = record({
        onRtp(packet) {
          if (((packet[1] ?? 0) & 0x80) !== 0) sentAt.push(now);
        },
        onRtcp() {
          rtcpAt.push({ at: now, packetsBefore: recording.rtp.length });
        },
      });
      const source = new DemoSource({ now: () => now });
      source.start(recording.listener);
      await recording.until(() => recording.ready.length === 1, 5_000, 'ready()');
      // 10 s of stream, the clip 2.5 times over, in steps of the source's own 10 ms tick.
      for (let step = 0; step < 1_000; step++) {
        now += 10;
        t.mock.timers.tick(10);
      }
      await source.close();
      const packetsAtClose = recording.rtp.length;
      now += 1_000;
      t.mock.timers.tick(1_000);
      assert.equal(recording.rtp.length, packetsAtClose, 'nothing after close()');

      const sent = frames(recording.rtp);
      assert.equal(sent.length, 10_000 / FRAME_MS + 1, 'frame 0 at once, then one per 40 ms');
      sentAt.forEach((at, k) => {
        const late = at - (startMs + k * FRAME_MS);
        assert.ok(late >= 0 && late < 10, `frame ${k} sent ${late} ms after its time`);
      });

      const first = sent[0]?.[0];
      assert.ok(first !== undefined);
      const { pictures } = clipPictures();
      let sequence = first.sequenceNumber;
      sent.forEach((frame, k) => {
        for (const packet of frame) {
          assert.equal(packet.ssrc, first.ssrc);
          assert.equal(packet.payloadType, 96);
          assert.equal(packet.sequenceNumber, sequence, `sequence number in frame ${k}`);
          assert.equal(packet.timestamp, (first.timestamp + k * FRAME_TICKS) >>> 0);
          sequence = (sequence + 1) & 0xffff;
        }
        // Frame k is picture k of the clip, looped: reassemble its NAL units.
        const picture = pictures[k % CLIP_FRAMES];
        assert.ok(picture !== undefined);
        assert.deepEqual(
          reassembleNalUnits(frame).map((nal) => nal.toString('hex')),
          picture.map((nal) => nal.toString('hex')),
          `frame ${k} is clip picture ${k % CLIP_FRAMES}`,
        );
      });
      assert.equal(
        nalUnitType(sent[CLIP_FRAMES]?.[0]?.payload ?? Buffer.alloc(0)),
        H264NalType.SPS,
      );

      // One SR right after the first frame, then every 5 s, with the SDES CNAME.
      assert.deepEqual(
        rtcpAt.map((entry) => entry.at - startMs),
        [0, 5_000, 10_000],
      );
      recording.rtcp.forEach((buffer, index) => {
        const parsed = parseRtcpCompound(buffer);
        assert.ok(parsed.ok);
        const [report, sdes] = parsed.packets;
        assert.ok(report instanceof SenderReport);
        assert.equal(sdes?.type, 'sdes');
        const at = rtcpAt[index];
        assert.ok(at !== undefined);
        assert.equal(report.ssrc, first.ssrc);
        const ntp = ntpFromUnixMs(at.at);
        assert.deepEqual([report.ntpSeconds, report.ntpFraction], [ntp.seconds, ntp.fraction]);
        // The same line the frames lie on: 90 ticks per ms since frame 0.
        assert.equal(report.rtpTimestamp, (first.timestamp + (at.at - startMs) * 90) >>> 0);
        assert.equal(report.packetCount, at.packetsBefore);
        const octets = recording.rtp
          .slice(0, at.packetsBefore)
          .reduce((sum, packet) => sum + packet.length - 12, 0);
        assert.equal(report.octetCount, octets);
      });
    },
  );

  it(
    'skips ahead after a stall rather than bursting, and plays on when the clock goes back',
    {
      timeout: 10_000,
    },
    async (t) => {
      t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
      let now = 5_000_000;
      const recording = record();
      const source = new DemoSource({ now: () => now });
      source.start(recording.listener);
      await recording.until(() => recording.ready.length === 1, 5_000, 'ready()');
      const advance = (ms: number, step = 10): void => {
        for (let done = 0; done < ms; done += step) {
          now += step;
          t.mock.timers.tick(step);
        }
      };
      advance(400); // frames 0..10
      assert.equal(frames(recording.rtp).length, 11);

      now += 10_000; // the event loop was stuck for 10 s
      t.mock.timers.tick(10);
      const afterStall = frames(recording.rtp);
      assert.equal(afterStall.length, 11 + 5, 'at most 5 frames in one go');

      now -= 3_600_000; // the wall clock was set back an hour
      advance(400);
      await source.close();

      const sent = frames(recording.rtp);
      assert.ok(sent.length >= 16 + 9 && sent.length <= 16 + 11, `${sent.length} frames`);
      const { pictures } = clipPictures();
      const timestamps = sent.map((frame) => frame[0]?.timestamp ?? -1);
      const base = timestamps[0] ?? 0;
      const slots = timestamps.map((timestamp) => ((timestamp - base) >>> 0) / FRAME_TICKS);
      // 10.4 s after frame 0 the stall ends: slot 260 is due, slots 256..260 go out.
      assert.deepEqual(slots.slice(0, 16), [
        ...Array.from({ length: 11 }, (_, k) => k),
        256,
        257,
        258,
        259,
        260,
      ]);
      // After the clock went back, one slot per frame again.
      slots.slice(16).forEach((slot, k) => assert.equal(slot, 261 + k));
      let sequence = sent[0]?.[0]?.sequenceNumber ?? 0;
      sent.forEach((frame, k) => {
        for (const packet of frame) {
          assert.equal(packet.sequenceNumber, sequence);
          sequence = (sequence + 1) & 0xffff;
        }
        // The clip never skips a picture: its references would be missing.
        assert.deepEqual(
          reassembleNalUnits(frame).map((nal) => nal.toString('hex')),
          (pictures[k % CLIP_FRAMES] ?? []).map((nal) => nal.toString('hex')),
        );
      });
    },
  );

  it(
    'a missing clip: lastError and one down(), no throw, and it loads once the file is there',
    {
      timeout: 10_000,
    },
    async (t) => {
      t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
      const directory = await mkdtemp(join(tmpdir(), 'streammesh-demo-'));
      const path = join(directory, 'demo.h264');
      const recording = record();
      const source = new DemoSource({ clipPath: path });
      source.start(recording.listener);
      await recording.until(() => recording.down.length === 1, 5_000, 'down()');
      assert.equal(source.state, 'retrying');
      assert.match(source.lastError ?? '', /cannot read the demo clip: .*ENOENT/);
      assert.equal(recording.down[0], source.lastError);
      assert.equal(recording.ready.length, 0);

      t.mock.timers.tick(1_000); // the first retry comes within 1 s, and fails too
      await new Promise((resolve) => realSetTimeout(resolve, 200));
      assert.equal(recording.down.length, 1, 'down() once, not once per failed retry');
      assert.equal(source.state, 'retrying');

      await copyFile(clipPath, path);
      t.mock.timers.tick(2_000); // the second within 2 s
      await recording.until(() => recording.ready.length === 1, 5_000, 'ready() after the retry');
      assert.equal(source.state, 'playing');
      assert.ok(recording.rtp.length > 0);
      assert.match(source.lastError ?? '', /ENOENT/, 'the last failure stays on record');
      await source.close();
    },
  );

  it('refuses a clip that is not H.264 with a reason', { timeout: 10_000 }, async () => {
    const directory = await mkdtemp(join(tmpdir(), 'streammesh-demo-'));
    const path = join(directory, 'not-video.h264');
    await writeFile(path, 'this is not an H.264 stream\n');
    const recording = record();
    const source = new DemoSource({ clipPath: path });
    source.start(recording.listener);
    await recording.until(() => recording.down.length === 1, 5_000, 'down()');
    assert.match(source.lastError ?? '', /no SPS and PPS/);
    assert.equal(source.state, 'retrying');
    await source.close();
    assert.equal(source.state, 'closed');
  });

  it(
    'close() frees every timer: a process that closes its sources exits by itself',
    {
      timeout: 20_000,
    },
    () => {
      const module = new URL('../../../rtp-proxy/media/rtsp/demo-source.js', import.meta.url).href;
      const script = `
      import { DemoSource } from ${JSON.stringify(module)};
      const listener = (events) => ({
        ready: () => events.push('ready'),
        rtp: () => { events.rtp = (events.rtp ?? 0) + 1; },
        rtcp: () => {},
        down: () => events.push('down'),
      });
      const playing = new DemoSource();
      const missing = new DemoSource({ clipPath: '/nonexistent/streammesh/demo.h264' });
      const events = { playing: [], missing: [] };
      playing.start(listener(events.playing));
      missing.start(listener(events.missing));
      await new Promise((resolve) => setTimeout(resolve, 500));
      await playing.close();
      await missing.close();
      console.log(JSON.stringify({ events, rtp: events.playing.rtp, states: [playing.state, missing.state] }));
    `;
      // Without close() the pacing interval and the retry timeout would keep it alive until killed.
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      assert.equal(child.signal, null, `killed: it did not exit by itself\n${child.stderr}`);
      assert.equal(child.status, 0, child.stderr);
      const output = JSON.parse(child.stdout) as {
        events: { playing: string[]; missing: string[] };
        rtp: number;
        states: string[];
      };
      assert.deepEqual(output.events, { playing: ['ready'], missing: ['down'] });
      assert.ok(output.rtp > 10, `${output.rtp} packets in 0.5 s`);
      assert.deepEqual(output.states, ['closed', 'closed']);
    },
  );

  it(
    'ffmpeg decodes it over UDP, every frame, across the loop point',
    { timeout: 40_000 },
    async () => {
      requirePeer('ffmpeg');
      // The description, from a first source, so that the receiver is up before the stream starts.
      const probe = record();
      const describer = new DemoSource();
      describer.start(probe.listener);
      await probe.until(() => probe.ready.length === 1, 5_000, 'ready()');
      await describer.close();
      const description = probe.ready[0];
      assert.ok(description !== undefined);

      const expected = await spawnPeer(
        'ffmpeg',
        [
          ...['-nostdin', '-hide_banner', '-threads', '1', '-i', clipPath],
          ...['-map', '0:v:0', '-fps_mode', 'passthrough', '-f', 'framemd5', '-'],
        ],
        { timeoutMs: 20_000 },
      ).exited;
      assert.equal(expected.code, 0, expected.stderr);
      const clipHashes = parseFrameHashes(expected.stdout);
      assert.equal(clipHashes.length, CLIP_FRAMES);

      const port = await freeUdpPortPair();
      const receiver = await startRtpReceiver({
        sdp: serializeSdp(description.sdp),
        port,
        timeoutMs: 25_000,
        silenceMs: 1_000,
        idleMs: 500,
      });
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      const send = (packet: Buffer, to: number): void => {
        socket.send(packet, to, '127.0.0.1');
      };
      const recording = record({
        onRtp: (packet) => send(packet, port),
        onRtcp: (packet) => send(packet, port + 1),
      });
      const source = new DemoSource();
      source.start(recording.listener);
      // 5 s: the whole clip, the loop point at 4 s, and a second on into the next pass.
      await sleep(5_000);
      await source.close();
      const result = await receiver.result();
      socket.close();

      const sent = frames(recording.rtp).length;
      assert.ok(sent >= 120 && sent <= 130, `${sent} frames sent in 5 s at 25 fps`);
      assert.doesNotMatch(
        result.stderr,
        /error while decoding|non-existing PPS|decode_slice_header error|concealing|missed \d+ packets/i,
      );
      assert.equal(result.frames, sent, `ffmpeg decoded ${result.frames} of ${sent} frames`);
      result.frameHashes.forEach((hash, k) => {
        assert.equal(hash, clipHashes[k % CLIP_FRAMES], `decoded frame ${k}`);
      });
    },
  );
});

/** RFC 6184 de-packetization of one frame: single NAL unit packets and FU-A runs. */
function reassembleNalUnits(frame: readonly RtpPacket[]): Buffer[] {
  const units: Buffer[] = [];
  let fragments: Buffer[] = [];
  for (const { payload } of frame) {
    const type = (payload[0] ?? 0) & 0x1f;
    if (type !== 28) {
      units.push(Buffer.from(payload));
      continue;
    }
    const fuHeader = payload[1] ?? 0;
    if ((fuHeader & 0x80) !== 0) {
      fragments = [Buffer.from([((payload[0] ?? 0) & 0xe0) | (fuHeader & 0x1f)])];
    }
    fragments.push(payload.subarray(2));
    if ((fuHeader & 0x40) !== 0) units.push(Buffer.concat(fragments));
  }
  return units;
}
