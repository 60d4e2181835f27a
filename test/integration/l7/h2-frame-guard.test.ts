/**
 * The HTTP/2 frame guard: which frame headers are connection errors
 * (RFC 9113), checked as a table, and, through a live listener with
 * checkHttp2Frames 'guard', that each kind of invalid frame gets a GOAWAY
 * with its error code, a closed connection and a count under its reason,
 * while valid traffic passes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkFrameHeader } from '../../../rtp-proxy/l7/listener/h2-frame-guard.js';
import {
  HTTP2_PREFACE,
  h2Frame,
  clientAgent,
  http2Session,
  send2,
  sendRaw,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';
import {
  INVALID_FRAME_SHAPES,
  checkHeldStreamFreedOnInvalidFrame,
} from '../../helpers/h2-invalid-frames.js';

const settings = h2Frame(0x4, 0, 0);

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

    for (const shape of INVALID_FRAME_SHAPES) {
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
          await proxy.metric('streammesh_http_refused_requests_total', {
            reason: shape.guardReason,
          }),
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

    it('frees what a stream in flight held when its connection sends an invalid frame, and serves another connection meanwhile', () =>
      checkHeldStreamFreedOnInvalidFrame(proxy, web, 'h2', 'h2_stream_zero'));
  });
});
