/**
 * An encrypted hop over real UDP on 127.0.0.1: a HopSender's socket sends
 * ~1,000 RTP packets/s to a HopReceiver's socket for a few seconds, with a
 * key rotation every second (the receiver gets each key 20 ms before the
 * sender switches, as the control plane delivers them), SRs one way and RRs
 * back. A third socket injects garbage, packets under a stale (rotated-out)
 * key and forgeries under the current epoch. The stream must lose nothing,
 * every injected packet must be dropped and counted by reason, and tshark,
 * decoding the capture of the hop as RTP, must find the payload's known bytes
 * nowhere, while the same hop without encryption shows them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HopReceiver, HopSender, type HopSnapshot } from '../../../src/media/hop/index.js';
import { ntpFromUnixMs, SenderReport } from '../../../src/protocol/rtcp/index.js';
import { generateHopKey, type HopKey } from '../../../src/protocol/srtp/index.js';
import { requirePeer, sleep, spawnPeer, stopAllPeers } from '../../helpers/peers/process.js';
import { rtpPacket } from '../../helpers/protocol/srtp-packets.js';

after(stopAllPeers);

const run = promisify(execFile);
const hopId = 'cam1:127.0.0.11->127.0.0.12';
const ssrc = 0x4f0b_5e11;
/** Bytes every payload starts with: what a capture must not show in the clear. */
const marker = Buffer.from('STREAMMESH-HOP-CLEARTEXT');
const packetsPerTick = 10;
const tickMs = 10;
const reportEveryMs = 250;
const rotateEveryMs = 1000;
/** Key delivered to the receiver this long before the sender switches. */
const keyLeadMs = 20;
/** Injection starts once epoch 1 has left the receiver (two rotations). */
const injectFromMs = 2600;

/** Unix time in ms with sub-ms resolution: loopback round trips are well under 1 ms. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function mediaPacket(seq: number): Buffer {
  const payload = Buffer.alloc(160, 0x5a);
  marker.copy(payload);
  payload.writeUInt32BE(seq, marker.length);
  return rtpPacket({ seq: seq & 0xffff, ssrc, timestamp: seq * 90, payload });
}

function keyOf(epoch: number): HopKey {
  return generateHopKey({ hopId, epoch, notAfter: wallMs() + 60_000 });
}

async function bound(): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

function portOf(socket: Socket): number {
  return socket.address().port;
}

interface Capture {
  readonly file: string;
  stop(): Promise<void>;
}

/** tshark on lo for one UDP port, bounded in packets and seconds whatever happens. */
async function capture(port: number, maxPackets: number, maxSeconds: number): Promise<Capture> {
  requirePeer('tshark');
  const file = join(await mkdtemp(join(tmpdir(), 'streammesh-hop-')), 'hop.pcapng');
  const args = ['-i', 'lo', '-f', `udp port ${port}`, '-c', String(maxPackets)];
  args.push('-a', `duration:${maxSeconds}`, '-w', file);
  const peer = spawnPeer('tshark', args, { timeoutMs: (maxSeconds + 10) * 1000 });
  await peer.waitForStderr(/Capturing on|Capture started/, 15_000);
  await sleep(150);
  return {
    file,
    async stop() {
      await sleep(200);
      await peer.stop('SIGINT');
    },
  };
}

/** RTP payloads (hex) of the capture, decoding the hop's port as RTP. */
async function decodedPayloads(file: string, port: number): Promise<string[]> {
  const { stdout } = await run(
    'tshark',
    ['-r', file, '-d', `udp.port==${port},rtp`, '-Y', 'rtp', '-T', 'fields', '-e', 'rtp.payload'],
    { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
  );
  return stdout
    .split('\n')
    .map((line) => line.trim().replaceAll(':', '').toLowerCase())
    .filter((line) => line !== '');
}

interface HopRun {
  readonly sent: number;
  readonly received: ReadonlySet<number>;
  readonly corrupted: number;
  readonly rotations: number;
  readonly injected: { garbage: number; stale: number; forged: number };
  readonly receiver?: HopSnapshot;
  readonly sender?: HopSnapshot;
  readonly receiverPort: number;
  readonly capture: Capture;
}

/** Runs the hop for `durationMs`; encrypted with rotations and injection, or plain. */
async function runHop(encrypted: boolean, durationMs: number): Promise<HopRun> {
  const [senderSocket, receiverSocket, injectorSocket] = await Promise.all([
    bound(),
    bound(),
    bound(),
  ]);
  const receiverPort = portOf(receiverSocket);
  const hopCapture = await capture(receiverPort, 20_000, Math.ceil(durationMs / 1000) + 5);
  const send = (socket: Socket, packet: Buffer): void => {
    socket.send(packet, receiverPort, '127.0.0.1');
  };

  let epoch = 1;
  const firstKey = keyOf(epoch);
  const sender = new HopSender({ key: firstKey });
  const receiver = new HopReceiver({ hopId });
  receiver.install(firstKey);

  const received = new Set<number>();
  let corrupted = 0;
  let senderAddress: RemoteInfo | undefined;
  receiverSocket.on('message', (message, from) => {
    if (from.port === portOf(senderSocket)) senderAddress = from;
    let plain: Buffer = message;
    if (encrypted) {
      const result = receiver.receive(message, wallMs());
      if (!result.ok || result.kind !== 'rtp') return;
      plain = result.packet;
    }
    const seq = plain.readUInt32BE(12 + marker.length);
    if (!plain.subarray(12, 12 + marker.length).equals(marker)) corrupted++;
    received.add(seq);
  });
  senderSocket.on('message', (message) => {
    sender.receiveRtcp(message, wallMs());
  });

  const started = wallMs();
  let seq = 0;
  let rotations = 0;
  const injected = { garbage: 0, stale: 0, forged: 0 };
  const stale = new HopSender({ key: firstKey });
  let staleSeq = 40_000;
  const forgers = new Map<number, HopSender>();
  const timers: NodeJS.Timeout[] = [];

  timers.push(
    setInterval(() => {
      for (let i = 0; i < packetsPerTick; i++) {
        const plain = mediaPacket(seq++);
        if (!encrypted) {
          send(senderSocket, plain);
          continue;
        }
        const result = sender.protectRtp(plain, wallMs());
        assert.ok(result.ok);
        send(senderSocket, result.packet);
      }
    }, tickMs),
  );
  if (encrypted) {
    timers.push(
      setInterval(() => {
        const now = wallMs();
        const ntp = ntpFromUnixMs(now);
        const sr = new SenderReport({
          ssrc,
          ntpSeconds: ntp.seconds,
          ntpFraction: ntp.fraction,
          rtpTimestamp: seq * 90,
          packetCount: seq,
          octetCount: seq * 172,
        }).serialize();
        const protectedSr = sender.protectRtcp(sr, now);
        if (protectedSr.ok) send(senderSocket, protectedSr.packet);
        const rr = receiver.receiverReport(now);
        if (rr !== undefined && senderAddress !== undefined) {
          receiverSocket.send(rr, senderAddress.port, senderAddress.address);
        }
      }, reportEveryMs),
      setInterval(() => {
        const next = keyOf(++epoch);
        receiver.install(next);
        timers.push(
          setTimeout(() => {
            sender.rotate(next, wallMs());
            rotations++;
          }, keyLeadMs),
        );
      }, rotateEveryMs),
      setInterval(() => {
        if (wallMs() - started < injectFromMs) return;
        const garbage = Buffer.from(
          Array.from({ length: 20 + (seq % 180) }, (_, i) => (i * 37 + seq) & 0xff),
        );
        garbage.writeUInt8(0x80 | (seq & 0x3f), 0);
        send(injectorSocket, garbage);
        injected.garbage++;
        const old = stale.protectRtp(mediaPacket(staleSeq++), wallMs());
        if (old.ok) send(injectorSocket, old.packet);
        injected.stale++;
        const current = sender.epoch;
        let forger = forgers.get(current);
        if (forger === undefined) {
          forger = new HopSender({ key: keyOf(current) });
          forgers.set(current, forger);
        }
        const forged = forger.protectRtp(mediaPacket(seq), wallMs());
        if (forged.ok) send(injectorSocket, forged.packet);
        injected.forged++;
      }, tickMs),
    );
  }

  await sleep(durationMs);
  for (const timer of timers) clearInterval(timer);
  // Let the last packets in flight arrive.
  await sleep(300);
  const now = wallMs();
  for (const socket of [senderSocket, receiverSocket, injectorSocket]) socket.close();
  await hopCapture.stop();
  return {
    sent: seq,
    received,
    corrupted,
    rotations,
    injected,
    ...(encrypted ? { receiver: receiver.snapshot(now), sender: sender.snapshot(now) } : {}),
    receiverPort,
    capture: hopCapture,
  };
}

describe('an encrypted hop over UDP', { timeout: 120_000 }, () => {
  it('loses no packet over rotations every second, drops and counts every injected packet, shows tshark no clear payload', async () => {
    const hop = await runHop(true, 4500);
    const { receiver, sender } = hop;
    assert.ok(receiver !== undefined && sender !== undefined);
    console.log(
      `hop: sent ${hop.sent}, received ${hop.received.size}, rotations ${hop.rotations}, ` +
        `injected ${JSON.stringify(hop.injected)}, receiver drops ${JSON.stringify(receiver.drops)}, ` +
        `jitter ${receiver.jitterMs.toFixed(3)} ms, rtt ${sender.rttMs?.toFixed(3)} ms`,
    );
    assert.ok(hop.sent >= 3000, `sent ${hop.sent}`);
    assert.ok(hop.rotations >= 4, `rotations ${hop.rotations}`);
    assert.equal(hop.received.size, hop.sent, 'every packet arrived, decrypted');
    assert.equal(hop.corrupted, 0);
    assert.equal(receiver.rtpPackets, hop.sent);
    assert.equal(receiver.lossFraction, 0);
    assert.equal(receiver.epochs.current, hop.rotations + 1);

    assert.ok(hop.injected.garbage > 50);
    assert.deepEqual(receiver.drops, {
      unknown_key: hop.injected.garbage + hop.injected.stale,
      auth_failed: hop.injected.forged,
    });
    assert.deepEqual(sender.drops, {});
    assert.ok(
      sender.rttMs !== null && sender.rttMs >= 0 && sender.rttMs < 100,
      `rtt ${sender.rttMs}`,
    );

    const payloads = await decodedPayloads(hop.capture.file, hop.receiverPort);
    assert.ok(payloads.length >= hop.sent, `tshark decoded ${payloads.length} RTP packets`);
    const markerHex = marker.toString('hex');
    assert.equal(payloads.filter((payload) => payload.includes(markerHex)).length, 0);
    assert.equal((await readFile(hop.capture.file)).includes(marker), false);
  });

  it('without encryption, the same capture shows the payload (the check above can see it)', async () => {
    const hop = await runHop(false, 1000);
    assert.equal(hop.received.size, hop.sent);
    const payloads = await decodedPayloads(hop.capture.file, hop.receiverPort);
    const markerHex = marker.toString('hex');
    const clear = payloads.filter((payload) => payload.includes(markerHex)).length;
    assert.ok(clear >= hop.sent, `${clear} of ${hop.sent} payloads in the clear`);
    assert.equal((await readFile(hop.capture.file)).includes(marker), true);
  });
});
