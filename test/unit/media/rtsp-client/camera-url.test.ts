/**
 * The camera URL: credentials out of request lines, and control URLs
 * resolved as RFC 2326 §C.1.1 and real cameras expect.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CameraProtocolError } from '../../../../src/media/rtsp-client/index.js';
import {
  contentBase,
  parseCameraUrl,
  resolveControl,
} from '../../../../src/media/rtsp-client/camera-url.js';
import { RtspHeaders, type RtspResponse } from '../../../../src/protocol/rtsp/index.js';

function response(headers: [string, string][]): RtspResponse {
  return {
    version: 'RTSP/1.0',
    status: 200,
    reason: 'OK',
    headers: new RtspHeaders(headers),
    body: Buffer.alloc(0),
  };
}

describe('camera URL', () => {
  it('takes percent-decoded credentials out of the URL', () => {
    const address = parseCameraUrl('rtsp://ad%20min:p%40ss%3Aw@cam.local:8554/live/main?x=1#frag');
    assert.deepEqual(address, {
      url: 'rtsp://cam.local:8554/live/main?x=1',
      host: 'cam.local',
      port: 8554,
      credentials: { username: 'ad min', password: 'p@ss:w' },
    });
  });

  it('defaults to port 554, unbrackets IPv6, keeps a lone % of a password', () => {
    const address = parseCameraUrl('rtsp://u:50%@[::1]/cam');
    assert.equal(address.port, 554);
    assert.equal(address.host, '::1');
    assert.equal(address.url, 'rtsp://[::1]/cam');
    assert.equal(address.credentials?.password, '50%');
    assert.equal(parseCameraUrl('rtsp://10.0.0.1/cam').credentials, undefined);
  });

  it('refuses what is not an rtsp URL with a host', () => {
    for (const text of ['http://cam/x', 'not a url', 'rtsp:///path']) {
      assert.throws(() => parseCameraUrl(text), CameraProtocolError, text);
    }
  });

  it('resolves control URLs against the base', () => {
    const base = 'rtsp://cam/live';
    assert.equal(resolveControl(base, undefined), base);
    assert.equal(resolveControl(base, '*'), base);
    assert.equal(resolveControl(base, 'trackID=1'), 'rtsp://cam/live/trackID=1');
    assert.equal(resolveControl(`${base}/`, 'stream=0'), 'rtsp://cam/live/stream=0');
    assert.equal(resolveControl(base, 'RTSP://other/x'), 'RTSP://other/x');
    assert.equal(resolveControl(base, ' rtsp://cam/live/t1 '), 'rtsp://cam/live/t1');
  });

  it('takes the base from Content-Base, then Content-Location, then the request URL', () => {
    const url = 'rtsp://cam/live';
    assert.equal(
      contentBase(response([['Content-Base', 'rtsp://cam/live/']]), url),
      'rtsp://cam/live/',
    );
    assert.equal(
      contentBase(response([['Content-Location', 'rtsp://cam/other']]), url),
      'rtsp://cam/other',
    );
    assert.equal(contentBase(response([['Content-Base', 'sub/']]), url), 'rtsp://cam/sub/');
    assert.equal(contentBase(response([]), url), url);
  });
});
