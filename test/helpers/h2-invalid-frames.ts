/**
 * Raw HTTP/2 bytes for tests of what a listener does with invalid frames:
 * the shapes RFC 9113 makes connection errors, with the GOAWAY code nghttp2
 * answers them with and the reason the frame guard counts them under, a
 * minimal request header block, and the check that an invalid frame frees
 * what a stream in flight held.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import {
  HTTP2_PREFACE,
  delay,
  h2Frame,
  h2FramesIn,
  http2Session,
  send2,
  type Backend,
  type RunningProxy,
} from './l7-harness.js';
import { settleWithin } from './process.js';

export interface InvalidFrameShape {
  readonly name: string;
  readonly bytes: Buffer;
  /** The GOAWAY error code: 1 PROTOCOL_ERROR, 6 FRAME_SIZE_ERROR. */
  readonly code: number;
  /** What the frame guard counts it as (checkHttp2Frames 'guard'). */
  readonly guardReason: string;
  /** On node's native path nghttp2 refuses it but node reports nothing (h2-native-signals.test.ts). */
  readonly silentOnNativePath: boolean;
}

export const INVALID_FRAME_SHAPES: readonly InvalidFrameShape[] = [
  {
    name: 'DATA on stream 0',
    bytes: h2Frame(0x0, 0, 0, Buffer.from('x')),
    code: 1,
    guardReason: 'h2_stream_zero',
    silentOnNativePath: true,
  },
  {
    name: 'frame over 16 KiB',
    bytes: h2Frame(0x0, 0, 1, Buffer.alloc(20_000)),
    code: 6,
    guardReason: 'h2_frame_too_large',
    silentOnNativePath: true,
  },
  {
    name: 'HEADERS on an even stream',
    bytes: h2Frame(0x1, 0x5, 2, Buffer.from([0x82])),
    code: 1,
    guardReason: 'h2_even_stream',
    silentOnNativePath: false,
  },
  {
    name: 'SETTINGS of 5 bytes',
    bytes: h2Frame(0x4, 0, 0, Buffer.alloc(5)),
    code: 6,
    guardReason: 'h2_settings_size',
    silentOnNativePath: true,
  },
  {
    name: 'PING of 4 bytes',
    bytes: h2Frame(0x6, 0, 0, Buffer.alloc(4)),
    code: 6,
    guardReason: 'h2_ping_size',
    silentOnNativePath: true,
  },
  {
    name: 'PUSH_PROMISE from a client',
    bytes: h2Frame(0x5, 0x4, 1, Buffer.alloc(4)),
    code: 1,
    guardReason: 'h2_push_from_client',
    silentOnNativePath: false,
  },
  {
    name: 'HEADERS without END_HEADERS then DATA',
    bytes: Buffer.concat([
      h2Frame(0x1, 0x0, 1, Buffer.from([0x82])),
      h2Frame(0x0, 0, 1, Buffer.from('x')),
    ]),
    code: 1,
    guardReason: 'h2_continuation_expected',
    silentOnNativePath: true,
  },
];

/** The shapes only a probe can find on node's native path. */
export const SILENT_ON_NATIVE_PATH = INVALID_FRAME_SHAPES.filter(
  (shape) => shape.silentOnNativePath,
);

/**
 * An HPACK block for GET http://web<path>: static-table :method GET (0x82)
 * and :scheme http (0x86), literal :authority (index 1) and :path (index 4)
 * without indexing (RFC 7541).
 */
export function getRequestBlock(path: string): Buffer {
  const literal = (nameIndex: number, value: string): Buffer =>
    Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value, 'latin1')]);
  return Buffer.concat([Buffer.from([0x82, 0x86]), literal(1, 'web'), literal(4, path)]);
}

/**
 * A valid GET on stream 1 that `web` holds, then DATA on stream 0 on the same
 * connection to `listener`: the connection gets GOAWAY PROTOCOL_ERROR and is
 * closed, counted once under `reason`, the held request's slot comes back,
 * and another connection is served meanwhile.
 */
export async function checkHeldStreamFreedOnInvalidFrame(
  proxy: RunningProxy,
  web: Backend,
  listener: string,
  reason: string,
): Promise<void> {
  const held: ServerResponse[] = [];
  web.handler = (_req: IncomingMessage, res: ServerResponse) => {
    held.push(res);
  };
  const port = proxy.portOf(listener);
  const other = http2Session(port);
  const raw = connect(port, '127.0.0.1');
  raw.on('error', () => undefined);
  try {
    const seenBefore = web.seen.length;
    const counted = { listener, reason };
    const before = await proxy.metric('streammesh_http_refused_requests_total', counted);
    let received = Buffer.alloc(0);
    raw.on('data', (part: Buffer) => (received = Buffer.concat([received, part])));
    const closed = new Promise((resolve) => raw.once('close', resolve));
    raw.write(
      Buffer.concat([
        HTTP2_PREFACE,
        h2Frame(0x4, 0, 0),
        h2Frame(0x1, 0x5, 1, getRequestBlock('/held')),
      ]),
    );
    const deadline = performance.now() + 5_000;
    while (web.seen.length === seenBefore) {
      assert.ok(performance.now() < deadline, 'stream 1 never reached the backend');
      await delay(10);
    }
    const pending = (): number | undefined =>
      proxy.service.listeners.get(listener)?.pendingRequests;
    assert.equal(pending(), 1);
    raw.write(h2Frame(0x0, 0, 0, Buffer.from('x')));
    await settleWithin(
      closed,
      Math.max(0, deadline - performance.now()),
      'the connection closed after its invalid frame',
    );
    const goaway = h2FramesIn(received).find((frame) => frame.type === 0x7);
    assert.equal(goaway?.payload.readUInt32BE(4), 0x1);
    assert.equal(await proxy.metric('streammesh_http_refused_requests_total', counted), before + 1);
    while (pending() !== 0) {
      assert.ok(performance.now() < deadline, 'the closed connection kept its request slot');
      await delay(10);
    }
    web.handler = undefined;
    const answer = await send2(other, { host: 'web', path: '/other' });
    assert.equal(answer.status, 200);
  } finally {
    web.handler = undefined;
    for (const res of held) res.destroy();
    raw.destroy();
    other.close();
  }
}
