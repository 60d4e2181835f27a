import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/**
 * Ports tests pick to restart a server on, or to write into a config before
 * the server starts. They come from below Linux's ephemeral range
 * (32768-60999): a port the kernel handed out for bind(0) is also where
 * outgoing connections of busy neighbours land, and one of them took such a
 * port between the pick and the bind. 20000-20999 is left to the rtpengine
 * tests, and 30000 up to the proxy's default rtpPorts.
 */
const PICK_RANGE = { start: 21_000, end: 29_999 } as const;

export async function canBindTcp(port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (bound) await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

export async function canBindUdp(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  const bound = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => resolve(true));
  });
  try {
    socket.close();
  } catch {
    // a socket whose bind failed is already closed
  }
  return bound;
}

/**
 * Ports this test process has handed out. A picked port stays unbound until
 * the test starts what listens on it, often seconds later, so a second pick
 * in between would find it free. A suite that picks nine pairs in a row
 * failed in CI as two of them meeting would make it: ffmpeg could not bind
 * its receiving port, and the next test read a stream that was not its own.
 */
const handedOut = new Set<number>();

export interface PickOptions {
  /** Ports from the one returned up that are handed out with it (2: RTP and RTCP). */
  readonly width?: number;
}

/**
 * A port free a moment ago for both TCP and UDP on 127.0.0.1 (so it serves
 * an RTSP server and its UDP media alike), never one this process picked
 * before. Only for the few tests that must restart a server on the same port
 * or write it into a config; everything else listens on port 0.
 */
export async function freePort(
  accept: (port: number) => boolean = () => true,
  { width = 1 }: PickOptions = {},
): Promise<number> {
  const span = PICK_RANGE.end - PICK_RANGE.start + 2 - width;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PICK_RANGE.start + Math.floor(Math.random() * span);
    const run = Array.from({ length: width }, (_, i) => port + i);
    if (run.some((p) => handedOut.has(p)) || !accept(port)) continue;
    if ((await canBindTcp(port)) && (await canBindUdp(port))) {
      for (const p of run) handedOut.add(p);
      return port;
    }
  }
  throw new Error(`no free port in ${PICK_RANGE.start}-${PICK_RANGE.end}`);
}
