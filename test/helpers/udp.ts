/** Real UDP endpoints on 127.0.0.1 for relay tests: a sender and a recording receiver. */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { waitFor } from './process.js';

export interface Received {
  readonly packet: Buffer;
  readonly from: RemoteInfo;
}

export class UdpPeer {
  readonly socket: Socket;
  readonly received: Received[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (packet, from) => this.received.push({ packet, from }));
  }

  static async bind(port = 0): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => resolve());
    });
    return new UdpPeer(socket);
  }

  /** Two peers on consecutive ports (RTP even, RTCP odd), as RTP endpoints use. */
  static async bindPair(): Promise<[UdpPeer, UdpPeer]> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const port = 46_000 + 2 * Math.floor(Math.random() * 2_000);
      try {
        const rtpPeer = await UdpPeer.bind(port);
        try {
          return [rtpPeer, await UdpPeer.bind(port + 1)];
        } catch {
          rtpPeer.close();
        }
      } catch {
        // taken: try another pair
      }
    }
    throw new Error('no free UDP port pair');
  }

  get port(): number {
    return this.socket.address().port;
  }

  async send(packet: Buffer, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.send(packet, port, '127.0.0.1', (error) => (error ? reject(error) : resolve()));
    });
  }

  async waitForCount(count: number, timeoutMs = 3_000): Promise<Received[]> {
    return waitFor(
      () => (this.received.length >= count ? this.received : undefined),
      timeoutMs,
      () => `${count} packets on port ${this.port}, got ${this.received.length}`,
    );
  }

  close(): void {
    this.socket.close();
  }
}

export interface RtpFields {
  readonly sequence: number;
  readonly timestamp?: number;
  readonly ssrc?: number;
  readonly payloadType?: number;
  readonly payload?: Buffer;
  readonly marker?: boolean;
}

/** A plain RTP packet (RFC 3550 §5.1) with no CSRCs, extension or padding. */
export function rtp(fields: RtpFields): Buffer {
  const payload = fields.payload ?? Buffer.alloc(160, 0xd5);
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = ((fields.marker ?? false) ? 0x80 : 0) | (fields.payloadType ?? 96);
  header.writeUInt16BE(fields.sequence & 0xffff, 2);
  header.writeUInt32BE((fields.timestamp ?? fields.sequence * 3000) >>> 0, 4);
  header.writeUInt32BE((fields.ssrc ?? 0x11223344) >>> 0, 8);
  return Buffer.concat([header, payload]);
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
