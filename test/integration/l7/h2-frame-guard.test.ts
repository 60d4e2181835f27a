/**
 * The HTTP/2 frame guard: which frame headers are connection errors
 * (RFC 9113), checked as a table, and, through a live listener with
 * checkHttp2Frames 'guard', that each
 * kind of invalid frame gets a GOAWAY with its error code, a closed
 * connection and a count under its reason, while valid traffic passes.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { checkFrameHeader } from '../../../rtp-proxy/l7/listener/h2-frame-guard.js';
import {
  HTTP2_PREFACE,
  h2Frame,
  clientAgent,
  delay,
  h2FramesIn,
  http2Session,
  send2,
  sendRaw,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

const settings = h2Frame(0x4, 0, 0);

/** Each invalid shape, the reason it is counted under, and the GOAWAY code (1 protocol, 6 frame size). */
const INVALID: readonly { name: string; bytes: Buffer; reason: string; code: number }[] = [
  {
    name: 'DATA on stream 0',
    bytes: h2Frame(0x0, 0, 0, Buffer.from('x')),
    reason: 'h2_stream_zero',
    code: 1,
  },
  {
    name: 'frame over 16 KiB',
    bytes: h2Frame(0x0, 0, 1, Buffer.alloc(20_000)),
    reason: 'h2_frame_too_large',
    code: 6,
  },
  {
    name: 'HEADERS on an even stream',
    bytes: h2Frame(0x1, 0x5, 2, Buffer.from([0x82])),
    reason: 'h2_even_stream',
    code: 1,
  },
  {
    name: 'SETTINGS of 5 bytes',
    bytes: h2Frame(0x4, 0, 0, Buffer.alloc(5)),
    reason: 'h2_settings_size',
    code: 6,
  },
  {
    name: 'PING of 4 bytes',
    bytes: h2Frame(0x6, 0, 0, Buffer.alloc(4)),
    reason: 'h2_ping_size',
    code: 6,
  },
  {
    name: 'PUSH_PROMISE from a client',
    bytes: h2Frame(0x5, 0x4, 1, Buffer.alloc(4)),
    reason: 'h2_push_from_client',
    code: 1,
  },
  {
    name: 'HEADERS without END_HEADERS then DATA',
    bytes: Buffer.concat([
      h2Frame(0x1, 0x0, 1, Buffer.from([0x82])),
      h2Frame(0x0, 0, 1, Buffer.from('x')),
    ]),
    reason: 'h2_continuation_expected',
    code: 1,
  },
];

/** An HPACK block for GET http://web<path> (static-table :method, :scheme; literal :authority, :path). */
function getBlock(path: string): Buffer {
  const literal = (nameIndex: number, value: string): Buffer =>
    Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value, 'latin1')]);
  return Buffer.concat([Buffer.from([0x82, 0x86]), literal(1, 'web'), literal(4, path)]);
}

describe('HTTP/2 frame guard', () => {
  it('tells connection errors from valid frame headers', () => {
    const fresh = () => ({ expectContinuation: 0, first: false });
    assert.equal(
      checkFrameHeader(0x4, 0, 0, 12, { expectContinuation: 0, first: true }),
      undefined,
    );
    assert.equal(
      checkFrameHeader(0x1, 0x4, 0, 10, { expectContinuation: 0, first: true })?.reason,
      'h2_preface_not_settings',
    );
    assert.equal(checkFrameHeader(0x1, 0x5, 3, 10, fresh()), undefined);
    assert.equal(checkFrameHeader(0x0, 0x1, 3, 16_384, fresh()), undefined);
    assert.equal(checkFrameHeader(0x8, 0, 0, 4, fresh()), undefined, 'connection WINDOW_UPDATE');
    assert.equal(checkFrameHeader(0x4, 0x1, 0, 0, fresh()), undefined, 'SETTINGS ACK');
    assert.equal(checkFrameHeader(0x4, 0x1, 0, 6, fresh())?.reason, 'h2_settings_size');
    assert.equal(checkFrameHeader(0x9, 0x4, 3, 10, fresh())?.reason, 'h2_continuation_unexpected');
    const split = fresh();
    assert.equal(checkFrameHeader(0x1, 0x0, 5, 10, split), undefined);
    assert.equal(
      checkFrameHeader(0x9, 0x4, 5, 10, split),
      undefined,
      'CONTINUATION completes the block',
    );
    assert.equal(checkFrameHeader(0x0, 0x0, 5, 10, split), undefined);
    assert.equal(
      checkFrameHeader(0xfa, 0, 7, 3, fresh()),
      undefined,
      'unknown types are ignored (RFC 9113 5.5)',
    );
  });

  describe('on a listener', () => {
    let web: Backend;
    let proxy: RunningProxy;

    before(async () => {
      web = await startBackend('web');
      proxy = await startProxy({
        listeners: [
          { name: 'h2', listen: '127.0.0.1:0', protocol: 'http2', checkHttp2Frames: 'guard' },
          // false: the older spelling of 'off'.
          { name: 'unchecked', listen: '127.0.0.1:0', checkHttp2Frames: false },
        ],
        routes: [{ name: 'web', match: { path: { prefix: '/' } }, action: { cluster: 'web' } }],
        clusters: [{ name: 'web', endpoints: [web.address] }],
      });
    });

    after(async () => {
      clientAgent.destroy();
      await proxy.close();
      await web.close();
    });

    for (const shape of INVALID) {
      it(`closes the connection on ${shape.name}, with GOAWAY ${shape.code}, counted`, async () => {
        const answer = await sendRaw(
          proxy.port,
          Buffer.concat([HTTP2_PREFACE, settings, shape.bytes]),
          3_000,
        );
        const goaway = answer.subarray(answer.length - 17);
        assert.equal(goaway[3], 0x7, 'the last frame is not a GOAWAY');
        assert.equal(goaway.readUInt32BE(13), shape.code);
        assert.equal(
          await proxy.metric('streammesh_http_refused_requests_total', { reason: shape.reason }),
          1,
        );
      });
    }

    it('lets valid traffic through, large bodies in many frames included', async () => {
      const session = http2Session(proxy.port);
      try {
        const body = Buffer.alloc(300_000, 1);
        const answer = await send2(session, { host: 'web', path: '/up', method: 'POST', body });
        assert.equal(answer.status, 200);
        assert.ok(answer.body.equals(body));
      } finally {
        session.close();
      }
      assert.equal(web.seen.length, 1, 'only the valid request reached the upstream');
    });

    it('serves HTTP/2 without the checks when they are turned off (invalid frames then go uncounted)', async () => {
      const port = proxy.portOf('unchecked');
      const session = http2Session(port);
      try {
        const answer = await send2(session, { host: 'web', path: '/unchecked' });
        assert.equal(answer.status, 200);
      } finally {
        session.close();
      }
      const before = await proxy.metric('streammesh_http_refused_requests_total', {
        listener: 'unchecked',
      });
      // nghttp2 still answers the frame with a GOAWAY but keeps the connection
      // (until the idle timeout), so the raw client gives up after 1 s.
      await assert.rejects(
        sendRaw(
          port,
          Buffer.concat([HTTP2_PREFACE, settings, h2Frame(0x6, 0, 0, Buffer.alloc(4))]),
          1_000,
        ),
        /no close within/,
      );
      assert.equal(
        await proxy.metric('streammesh_http_refused_requests_total', { listener: 'unchecked' }),
        before,
      );
    });

    it('frees what a stream in flight held when its connection sends an invalid frame, and serves another connection meanwhile', async () => {
      const held: ServerResponse[] = [];
      web.handler = (_req: IncomingMessage, res: ServerResponse) => {
        held.push(res);
      };
      const other = http2Session(proxy.port);
      try {
        const seenBefore = web.seen.length;
        const before = await proxy.metric('streammesh_http_refused_requests_total', {
          reason: 'h2_stream_zero',
        });
        // A valid GET on stream 1, which the backend holds, then DATA on stream 0.
        const raw = connect(proxy.port, '127.0.0.1');
        raw.on('error', () => undefined);
        let received = Buffer.alloc(0);
        raw.on('data', (part: Buffer) => (received = Buffer.concat([received, part])));
        const closed = new Promise((resolve) => raw.once('close', resolve));
        raw.write(
          Buffer.concat([HTTP2_PREFACE, settings, h2Frame(0x1, 0x5, 1, getBlock('/held'))]),
        );
        const deadline = performance.now() + 5_000;
        while (web.seen.length === seenBefore) {
          assert.ok(performance.now() < deadline, 'stream 1 never reached the backend');
          await delay(10);
        }
        const listener = proxy.service.listeners.get('h2');
        const pending = (): number | undefined => listener?.pendingRequests;
        assert.equal(pending(), 1);
        raw.write(h2Frame(0x0, 0, 0, Buffer.from('x')));
        await closed;
        const goaway = h2FramesIn(received).find((frame) => frame.type === 0x7);
        assert.equal(goaway?.payload.readUInt32BE(4), 0x1);
        assert.equal(
          await proxy.metric('streammesh_http_refused_requests_total', {
            reason: 'h2_stream_zero',
          }),
          before + 1,
        );
        // The held stream's slot comes back once its session is gone.
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
        other.close();
      }
    });
  });
});
