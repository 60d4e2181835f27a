/** RtspHeaders and the serializers: round trips through the parser, refusals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  interleavedFrame,
  RtspHeaders,
  RtspSerializeError,
  RtspStreamParser,
  serializeRequest,
  serializeResponse,
} from '../../../../src/protocol/rtsp/index.js';
import { clientStream, serverStream } from '../../../helpers/protocol/rtsp-fixtures.js';
import { plain } from '../../../helpers/protocol/rtsp-support.js';

describe('RtspHeaders', () => {
  it('looks names up case-insensitively and keeps order and case', () => {
    const headers = new RtspHeaders([
      ['CSeq', '7'],
      ['WWW-Authenticate', 'Digest realm="a", nonce="b"'],
      ['www-authenticate', 'Basic realm="a"'],
      ['Server', 'x'],
    ]);
    assert.equal(headers.get('cseq'), '7');
    assert.equal(headers.get('Www-Authenticate'), 'Digest realm="a", nonce="b"');
    assert.deepEqual(headers.getAll('WWW-AUTHENTICATE'), [
      'Digest realm="a", nonce="b"',
      'Basic realm="a"',
    ]);
    headers.set('www-Authenticate', 'Basic realm="b"');
    headers.set('Session', '1');
    assert.deepEqual(headers.toJSON(), [
      ['CSeq', '7'],
      ['www-Authenticate', 'Basic realm="b"'],
      ['Server', 'x'],
      ['Session', '1'],
    ]);
    assert.equal(headers.delete('server'), true);
    assert.equal(headers.delete('server'), false);
    assert.equal(headers.has('SERVER'), false);
    assert.deepEqual([...headers].length, 3);
  });

  it('reads CSeq only when it is a plain decimal', () => {
    assert.equal(new RtspHeaders([['cseq', ' 42 ']]).cseq(), 42);
    for (const bad of ['', '-1', '1.5', '0x10', 'abc', '99999999999999999999']) {
      assert.equal(new RtspHeaders([['CSeq', bad]]).cseq(), undefined, bad);
    }
    assert.equal(new RtspHeaders().cseq(), undefined);
  });
});

describe('serializers', () => {
  it('re-serialize every fixture message to bytes that parse the same', () => {
    for (const stream of [clientStream(), serverStream()]) {
      const events = new RtspStreamParser().push(stream);
      const rebuilt = Buffer.concat(
        events.map((event) => {
          switch (event.type) {
            case 'request':
              return serializeRequest(event.request);
            case 'response':
              return serializeResponse(event.response);
            case 'interleaved':
              return interleavedFrame(event.channel, event.payload);
            case 'error':
              throw new Error(event.reason);
          }
        }),
      );
      const again = new RtspStreamParser().push(rebuilt);
      // Content-Length is rewritten from the body, so compare without it.
      for (const event of [...events, ...again]) {
        if (event.type === 'request') event.request.headers.delete('content-length');
        if (event.type === 'response') event.response.headers.delete('content-length');
      }
      assert.equal(again.length, events.length);
      assert.deepEqual(plain(again), plain(events));
    }
  });

  it('writes the bytes expected', () => {
    const request = serializeRequest({
      method: 'SET_PARAMETER',
      url: 'rtsp://cam/',
      version: 'RTSP/1.0',
      headers: new RtspHeaders([
        ['CSeq', '5'],
        ['Content-Length', '999'],
      ]),
      body: Buffer.from('a: b\r\n'),
    });
    assert.equal(
      request.toString(),
      'SET_PARAMETER rtsp://cam/ RTSP/1.0\r\nCSeq: 5\r\nContent-Length: 6\r\n\r\na: b\r\n',
    );
    const response = serializeResponse({
      version: 'RTSP/1.0',
      status: 454,
      reason: 'Session Not Found',
      headers: new RtspHeaders([['CSeq', '9']]),
      body: Buffer.alloc(0),
    });
    assert.equal(response.toString(), 'RTSP/1.0 454 Session Not Found\r\nCSeq: 9\r\n\r\n');
    assert.equal(interleavedFrame(3, Buffer.from([1, 2])).toString('hex'), '240300020102');
  });

  it('refuses what cannot be written safely', () => {
    const base = {
      method: 'OPTIONS',
      url: '*',
      version: 'RTSP/1.0' as const,
      headers: new RtspHeaders(),
      body: Buffer.alloc(0),
    };
    const refuse = (fn: () => unknown): void => {
      assert.throws(fn, RtspSerializeError);
    };
    refuse(() => serializeRequest({ ...base, method: 'BAD METHOD' }));
    refuse(() => serializeRequest({ ...base, url: 'rtsp://a b' }));
    refuse(() => serializeRequest({ ...base, url: '' }));
    refuse(() =>
      serializeRequest({ ...base, headers: new RtspHeaders([['X', 'a\r\nInjected: 1']]) }),
    );
    refuse(() => serializeRequest({ ...base, headers: new RtspHeaders([['X Y', 'a']]) }));
    refuse(() => serializeResponse({ ...base, status: 20, reason: 'OK' }));
    refuse(() => serializeResponse({ ...base, status: 200, reason: 'OK\r\n' }));
    refuse(() => interleavedFrame(256, Buffer.alloc(1)));
    refuse(() => interleavedFrame(-1, Buffer.alloc(1)));
    refuse(() => interleavedFrame(0, Buffer.alloc(65536)));
  });
});
