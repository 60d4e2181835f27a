/**
 * An RTSP viewer over TCP (interleaved) that keeps what continuity tests
 * need of every RTP packet of track 0: when it arrived, its SSRC, sequence
 * number and timestamp. From them: the longest silence, the SSRCs seen, and
 * the sequence numbers that are missing (a gap in numbering is a lost
 * packet; the proxy's numbering continues across a source change, so a
 * change of source must leave none).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { RtspTestClient } from './rtsp-client.js';

export interface SeenPacket {
  readonly at: number;
  readonly ssrc: number;
  readonly seq: number;
  readonly timestamp: number;
  readonly marker: boolean;
}

export class RtspSequenceViewer {
  readonly packets: SeenPacket[] = [];
  readonly #client: RtspTestClient;

  private constructor(client: RtspTestClient) {
    this.#client = client;
    // Registered after the client's own listener, so its frames are parsed when this runs.
    client.socket.on('data', () => {
      const at = performance.now();
      for (const frame of client.frames) {
        if (frame.channel !== 0 || frame.payload.length < 12) continue;
        const payload = frame.payload;
        this.packets.push({
          at,
          ssrc: payload.readUInt32BE(8),
          seq: payload.readUInt16BE(2),
          timestamp: payload.readUInt32BE(4),
          marker: ((payload[1] ?? 0) & 0x80) !== 0,
        });
      }
      client.frames.length = 0;
    });
  }

  /** DESCRIBE, SETUP (track 0, interleaved) and PLAY `url` at host:port. */
  static async play(host: string, port: number, path: string): Promise<RtspSequenceViewer> {
    const url = `rtsp://${host}:${port}/${path}`;
    const client = await RtspTestClient.connect(port, host);
    const described = await client.request('DESCRIBE', url);
    assert.equal(described?.status, 200, `DESCRIBE ${url}: ${described?.reason ?? 'closed'}`);
    const setup = await client.request('SETUP', `${url}/trackID=0`, {
      Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
    });
    assert.equal(setup?.status, 200, `SETUP ${url}`);
    const session = setup.headers.get('Session')?.split(';')[0] ?? '';
    assert.equal((await client.request('PLAY', url, { Session: session }))?.status, 200);
    return new RtspSequenceViewer(client);
  }

  get closed(): Promise<void> {
    return this.#client.closed;
  }

  /** Packets that arrived in [from, to) (performance.now() times). */
  between(from: number, to: number): SeenPacket[] {
    return this.packets.filter(({ at }) => at >= from && at < to);
  }

  /** The longest time without a packet in [from, to), in ms. */
  longestSilenceMs(from: number, to: number): number {
    let last = from;
    let longest = 0;
    for (const { at } of this.between(from, to)) {
      longest = Math.max(longest, at - last);
      last = at;
    }
    return Math.max(longest, to - last);
  }

  ssrcs(): Set<number> {
    return new Set(this.packets.map(({ ssrc }) => ssrc));
  }

  /** Sequence numbers missing between consecutive packets (mod 2^16), summed. */
  missing(from = 0, to = Infinity): number {
    const seen = this.between(from, to);
    let missing = 0;
    for (let index = 1; index < seen.length; index += 1) {
      const step = ((seen[index]?.seq ?? 0) - (seen[index - 1]?.seq ?? 0)) & 0xffff;
      // A step "backwards" (reordering, over TCP none) counts as nothing missing.
      if (step > 1 && step < 0x8000) missing += step - 1;
    }
    return missing;
  }

  /** Where numbering has holes: the packets either side of each, for a failure's message. */
  holes(from = 0, to = Infinity): string[] {
    const seen = this.between(from, to);
    const out: string[] = [];
    for (let index = 1; index < seen.length; index += 1) {
      const before = seen[index - 1];
      const after = seen[index];
      if (before === undefined || after === undefined) continue;
      const step = (after.seq - before.seq) & 0xffff;
      if (step > 1 && step < 0x8000) {
        out.push(
          `seq ${before.seq} -> ${after.seq} at ${Math.round(before.at)} -> ${Math.round(after.at)} ms (ts ${before.timestamp} -> ${after.timestamp})`,
        );
      }
    }
    return out;
  }

  /** Frames (packets with the marker bit) that arrived in [from, to). */
  frames(from: number, to: number): number {
    return this.between(from, to).filter(({ marker }) => marker).length;
  }

  close(): void {
    this.#client.close();
  }
}
