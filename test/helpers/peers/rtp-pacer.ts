/**
 * A paced RTP sender in a Node process of its own: `rate` packets per second
 * to 127.0.0.1:`port`, on a 5 ms tick, catching up from elapsed time so
 * that timer jitter never changes the rate (up to MAX_CATCH_UP_PACKETS). Each packet's RTP timestamp is
 * 4 x its index (8 kHz clock, one packet every 0.5 ms: unique far beyond the
 * 16-bit sequence number), and its payload carries the index (u32) and the
 * send time (f64, ms since the epoch). Bounded in count and time.
 *
 * A process of its own so that its pacing does not depend on the test's
 * event loop; `priority` (a nice value, negative = ahead of others) lets a
 * test keep its traffic generator steady on a machine whose cores the system
 * under test and its attackers share.
 */
import { spawnPeer, type PeerProcess } from './process.js';

export interface RtpPacerOptions {
  readonly port: number;
  readonly packetsPerSecond: number;
  /** The sender stops by itself after this long. */
  readonly maxSeconds: number;
  /** nice value for the sender; default: inherit this process's. */
  readonly priority?: number;
}

export interface RtpPacer {
  readonly peer: PeerProcess;
  /** Stops sending; resolves with how many packets were sent (indices 0..sent-1). */
  stop(): Promise<number>;
}

export const RTP_PACER_SSRC = 0x5eed0014;
export const RTP_PACER_PAYLOAD_BYTES = 160;
/**
 * Packets one tick may send to catch up (4 ticks' worth): a stall of the
 * sender leaves a gap in its stream, as a real one's would, rather than a
 * burst that would then be measured as the relay's delay.
 */
const MAX_CATCH_UP_PACKETS = 40;

const SENDER = `
const { createSocket } = require('node:dgram');
const { performance } = require('node:perf_hooks');
const [port, rate, seconds] = process.argv.slice(1).map(Number);
const max = rate * seconds;
const socket = createSocket('udp4');
let started = performance.now();
let sent = 0;
const timer = setInterval(() => {
  let due = Math.min(max, Math.floor(((performance.now() - started) * rate) / 1000));
  if (due - sent > ${MAX_CATCH_UP_PACKETS}) {
    // After a stall, move the schedule on instead of bursting what was missed.
    started += ((due - sent - ${MAX_CATCH_UP_PACKETS}) * 1000) / rate;
    due = sent + ${MAX_CATCH_UP_PACKETS};
  }
  while (sent < due) {
    const packet = Buffer.alloc(12 + ${RTP_PACER_PAYLOAD_BYTES});
    packet[0] = 0x80;
    packet.writeUInt16BE(sent & 0xffff, 2);
    packet.writeUInt32BE((sent * 4) >>> 0, 4);
    packet.writeUInt32BE(${RTP_PACER_SSRC}, 8);
    packet.writeUInt32BE(sent, 12);
    packet.writeDoubleBE(performance.timeOrigin + performance.now(), 16);
    socket.send(packet, port, '127.0.0.1');
    sent += 1;
  }
  if (sent >= max) finish();
}, 5);
process.stderr.write('sending\\n');
let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  // Let the sends already queued leave before the socket closes.
  setTimeout(() => {
    process.stderr.write('sent ' + sent + '\\n');
    socket.close();
  }, 100);
}
process.on('SIGTERM', finish);
`;

export async function startRtpPacer(options: RtpPacerOptions): Promise<RtpPacer> {
  const node = [
    process.execPath,
    '-e',
    SENDER,
    String(options.port),
    String(options.packetsPerSecond),
    String(options.maxSeconds),
  ];
  const [command, ...args] =
    options.priority === undefined ? node : ['nice', '-n', String(options.priority), ...node];
  const peer = spawnPeer(command ?? 'node', args, {
    timeoutMs: (options.maxSeconds + 10) * 1000,
    stopSignal: 'SIGTERM',
  });
  await peer.waitForStderr(/^sending$/m, 5_000);
  return {
    peer,
    stop: async () => {
      const exit = await peer.stop();
      const sent = /^sent (\d+)$/m.exec(exit.stderr)?.[1];
      if (sent === undefined)
        throw new Error(`the RTP pacer did not say what it sent:\n${exit.stderr}`);
      return Number(sent);
    },
  };
}
