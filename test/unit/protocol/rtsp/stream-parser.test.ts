/**
 * RtspStreamParser on real-shaped exchanges, split at every byte boundary, and
 * on each limit and malformed input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RtspStreamParser,
  type RtspParseErrorReason,
  type RtspParseEvent,
  type RtspStreamParserOptions,
} from '../../../../src/protocol/rtsp/index.js';
import { clientStream, SDP, serverStream } from '../../../helpers/protocol/rtsp-fixtures.js';
import { plain, pushSplit, Random } from '../../../helpers/protocol/rtsp-support.js';

function parseAll(input: Buffer, options?: RtspStreamParserOptions): RtspParseEvent[] {
  return new RtspStreamParser(options).push(input);
}

function checkEverySplit(input: Buffer): void {
  const expected = plain(parseAll(input));
  for (let cut = 0; cut <= input.length; cut++) {
    const events = pushSplit(new RtspStreamParser(), input, [cut]);
    assert.deepEqual(plain(events), expected, `split at ${cut}`);
  }
  const oneByOne = Array.from({ length: input.length }, (_, i) => i);
  assert.deepEqual(plain(pushSplit(new RtspStreamParser(), input, oneByOne)), expected);
  const random = new Random(2326);
  for (let round = 0; round < 200; round++) {
    const cuts = Array.from({ length: 1 + random.int(12) }, () => random.int(input.length + 1));
    cuts.sort((a, b) => a - b);
    assert.deepEqual(plain(pushSplit(new RtspStreamParser(), input, cuts)), expected);
  }
}

describe('RtspStreamParser: ffmpeg and GStreamer exchanges', () => {
  it('reads ffmpeg requests with interleaved RTCP', () => {
    const events = parseAll(clientStream());
    assert.deepEqual(
      events.map((e) => (e.type === 'request' ? e.request.method : e.type)),
      [
        'OPTIONS',
        'DESCRIBE',
        'SETUP',
        'PLAY',
        'interleaved',
        'GET_PARAMETER',
        'interleaved',
        'TEARDOWN',
      ],
    );
    const setup = events[2];
    assert.ok(setup?.type === 'request');
    assert.equal(setup.request.url, 'rtsp://127.0.0.1:8554/test/stream=0');
    assert.equal(setup.request.version, 'RTSP/1.0');
    assert.equal(setup.request.headers.cseq(), 3);
    assert.equal(setup.request.headers.get('transport'), 'RTP/AVP/TCP;unicast;interleaved=0-1');
    assert.deepEqual(setup.request.headers.toJSON(), [
      ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1'],
      ['CSeq', '3'],
      ['User-Agent', 'Lavf60.16.100'],
    ]);
    const keepalive = events[5];
    assert.ok(keepalive?.type === 'request');
    assert.equal(keepalive.request.body.toString(), 'packets_sent\n');
    const rtcp = events[4];
    assert.ok(rtcp?.type === 'interleaved');
    assert.equal(rtcp.channel, 1);
    assert.equal(rtcp.payload.toString('hex'), '81c90007deadbeef');
  });

  it('reads GStreamer responses, RTP frames and a bare-LF camera response', () => {
    const events = parseAll(serverStream());
    assert.deepEqual(
      events.map((e) =>
        e.type === 'response'
          ? e.response.status
          : e.type === 'interleaved'
            ? `$${e.channel}:${e.payload.length}`
            : e.type,
      ),
      [401, 200, 200, 200, 200, '$0:1212', '$0:15', '$1:4', 200, '$0:0', '$0:52'],
    );
    const r401 = events[0];
    assert.ok(r401?.type === 'response');
    assert.equal(r401.response.reason, 'Unauthorized');
    assert.equal(r401.response.headers.getAll('www-authenticate').length, 2);
    const describeResponse = events[2];
    assert.ok(describeResponse?.type === 'response');
    assert.equal(describeResponse.response.body.toString('latin1'), SDP);
    const camera = events[8];
    assert.ok(camera?.type === 'response');
    assert.equal(camera.response.headers.get('SESSION'), '8F3A21C0;timeout=65');
    assert.equal(camera.response.headers.cseq(), 3);
  });

  it('gives the same events however the client stream is split', () => {
    checkEverySplit(clientStream());
  });

  it('gives the same events however the server stream is split', () => {
    checkEverySplit(serverStream());
  });

  it('does not keep or alias the pushed chunks', () => {
    const input = clientStream();
    const parser = new RtspStreamParser();
    const copy = Buffer.from(input);
    const events = pushSplit(parser, copy, [10, 100]);
    copy.fill(0);
    assert.deepEqual(plain(events), plain(parseAll(input)));
  });
});

interface Case {
  name: string;
  input: string | Buffer;
  reason: RtspParseErrorReason;
  status: number;
  options?: RtspStreamParserOptions;
}

const OK = 'OPTIONS rtsp://cam/ RTSP/1.0\r\nCSeq: 1\r\n';

const cases: Case[] = [
  {
    name: 'headers over 16 KiB, unterminated',
    input: `${OK}X-Big: ${'a'.repeat(17_000)}`,
    reason: 'headers-too-large',
    status: 431,
  },
  {
    name: 'headers over 16 KiB, terminated',
    input: `${OK}X-Big: ${'a'.repeat(17_000)}\r\n\r\n`,
    reason: 'headers-too-large',
    status: 431,
  },
  {
    name: 'headers over a configured limit',
    input: `${OK}X-Big: ${'a'.repeat(200)}\r\n\r\n`,
    reason: 'headers-too-large',
    status: 431,
    options: { maxHeaderBytes: 128 },
  },
  {
    name: '65 headers',
    input: OK + Array.from({ length: 64 }, (_, i) => `X-H${i}: ${i}\r\n`).join('') + '\r\n',
    reason: 'too-many-headers',
    status: 431,
  },
  {
    name: 'URL over 2048 characters',
    input: `DESCRIBE rtsp://cam/${'a'.repeat(2100)} RTSP/1.0\r\nCSeq: 1\r\n\r\n`,
    reason: 'uri-too-long',
    status: 414,
  },
  {
    name: 'URL over 2048 characters, line still arriving',
    input: `DESCRIBE rtsp://cam/${'a'.repeat(3000)}`,
    reason: 'uri-too-long',
    status: 414,
  },
  {
    name: 'NUL in the URL',
    input: 'DESCRIBE rtsp://cam/a\x00b RTSP/1.0\r\nCSeq: 1\r\n\r\n',
    reason: 'control-character',
    status: 400,
  },
  {
    name: 'DEL in the URL',
    input: 'DESCRIBE rtsp://cam/a\x7fb RTSP/1.0\r\n\r\n',
    reason: 'control-character',
    status: 400,
  },
  {
    name: 'control character in an unterminated request line',
    input: 'DESCRIBE rtsp://cam/\x01',
    reason: 'control-character',
    status: 400,
  },
  {
    name: 'CR inside the request line',
    input: 'DESCRIBE rtsp://cam/\r RTSP/1.0\r\n\r\n',
    reason: 'control-character',
    status: 400,
  },
  {
    name: 'control character in a header value',
    input: `${OK}User-Agent: evil\x1bagent\r\n\r\n`,
    reason: 'control-character',
    status: 400,
  },
  {
    name: 'HTTP version',
    input: 'OPTIONS * HTTP/1.1\r\n\r\n',
    reason: 'version-not-supported',
    status: 505,
  },
  {
    name: 'RTSP/1.1',
    input: 'OPTIONS * RTSP/1.1\r\n\r\n',
    reason: 'version-not-supported',
    status: 505,
  },
  {
    name: 'RTSP/3.0 response',
    input: 'RTSP/3.0 200 OK\r\n\r\n',
    reason: 'version-not-supported',
    status: 505,
  },
  {
    name: 'garbage version',
    input: 'OPTIONS * RTSP1.0\r\n\r\n',
    reason: 'bad-request-line',
    status: 400,
  },
  {
    name: 'two-part request line',
    input: 'OPTIONS RTSP/1.0\r\n\r\n',
    reason: 'bad-request-line',
    status: 400,
  },
  {
    name: 'double space',
    input: 'OPTIONS  * RTSP/1.0\r\n\r\n',
    reason: 'bad-request-line',
    status: 400,
  },
  {
    name: 'method not a token',
    input: 'OPT(IONS * RTSP/1.0\r\n\r\n',
    reason: 'bad-request-line',
    status: 400,
  },
  {
    name: 'status not 3 digits',
    input: 'RTSP/1.0 20 OK\r\n\r\n',
    reason: 'bad-status-line',
    status: 400,
  },
  { name: 'no status', input: 'RTSP/1.0\r\n\r\n', reason: 'bad-status-line', status: 400 },
  {
    name: 'conflicting Content-Length',
    input: `${OK}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
    reason: 'conflicting-content-length',
    status: 400,
  },
  {
    name: 'negative Content-Length',
    input: `${OK}Content-Length: -1\r\n\r\n`,
    reason: 'invalid-content-length',
    status: 400,
  },
  {
    name: 'non-numeric Content-Length',
    input: `${OK}Content-Length: 0x10\r\n\r\n`,
    reason: 'invalid-content-length',
    status: 400,
  },
  {
    name: 'Content-Length with a sign',
    input: `${OK}Content-Length: +5\r\n\r\n`,
    reason: 'invalid-content-length',
    status: 400,
  },
  {
    name: 'empty Content-Length',
    input: `${OK}Content-Length:\r\n\r\n`,
    reason: 'invalid-content-length',
    status: 400,
  },
  {
    name: 'header without colon',
    input: `${OK}CSeq 2\r\n\r\n`,
    reason: 'header-without-colon',
    status: 400,
  },
  {
    name: 'header name with a space',
    input: `${OK}User Agent: x\r\n\r\n`,
    reason: 'invalid-header-name',
    status: 400,
  },
  {
    name: 'empty header name',
    input: `${OK}: x\r\n\r\n`,
    reason: 'invalid-header-name',
    status: 400,
  },
  {
    name: 'body over 64 KiB',
    input: `${OK}Content-Length: 65537\r\n\r\n`,
    reason: 'body-too-large',
    status: 413,
  },
  {
    name: 'absurd Content-Length',
    input: `${OK}Content-Length: 99999999999999999999999\r\n\r\n`,
    reason: 'body-too-large',
    status: 413,
  },
];

describe('RtspStreamParser: limits and malformed input', () => {
  for (const c of cases) {
    it(`${c.name} → ${c.reason} ${c.status}`, () => {
      const parser = new RtspStreamParser(c.options);
      const input = typeof c.input === 'string' ? Buffer.from(c.input, 'latin1') : c.input;
      const events = parser.push(input);
      assert.deepEqual(events, [{ type: 'error', reason: c.reason, status: c.status }]);
      assert.ok(parser.closed);
      assert.equal(parser.bufferedBytes, 0);
      assert.deepEqual(parser.push(Buffer.from(`${OK}\r\n`)), [], 'ignores input after an error');
    });
  }

  it('emits the messages before an error, then stops', () => {
    const input = Buffer.from(`${OK}\r\n${OK}Content-Length: x\r\n\r\n${OK}\r\n`);
    const events = new RtspStreamParser().push(input);
    assert.deepEqual(
      events.map((e) => e.type),
      ['request', 'error'],
    );
  });

  it('accepts exactly the limits', () => {
    const headers = Array.from({ length: 63 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    const url = `rtsp://cam/${'a'.repeat(2048 - 11)}`;
    const body = 'b'.repeat(65536);
    const input = `ANNOUNCE ${url} RTSP/1.0\r\n${headers}Content-Length: 65536\r\n\r\n${body}`;
    const events = new RtspStreamParser().push(Buffer.from(input));
    assert.equal(events.length, 1);
    const event = events[0];
    assert.ok(event?.type === 'request');
    assert.equal(event.request.url.length, 2048);
    assert.equal(event.request.headers.size, 64);
    assert.equal(event.request.body.length, 65536);
  });

  it('accepts identical duplicate Content-Length and RTSP/2.0', () => {
    const input = 'PLAY rtsp://cam/ RTSP/2.0\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab';
    const [event] = new RtspStreamParser().push(Buffer.from(input));
    assert.ok(event?.type === 'request');
    assert.equal(event.request.version, 'RTSP/2.0');
    assert.equal(event.request.body.toString(), 'ab');
  });

  it('joins folded header lines and allows tabs in values', () => {
    const input = `${OK}X-Long: one\r\n\t two\r\nX-Tab: a\tb\r\n\r\n`;
    const [event] = new RtspStreamParser().push(Buffer.from(input));
    assert.ok(event?.type === 'request');
    assert.equal(event.request.headers.get('x-long'), 'one two');
    assert.equal(event.request.headers.get('x-tab'), 'a\tb');
  });

  it('accepts a response without a reason phrase', () => {
    const [event] = new RtspStreamParser().push(Buffer.from('RTSP/1.0 200\r\nCSeq: 9\r\n\r\n'));
    assert.ok(event?.type === 'response');
    assert.equal(event.response.status, 200);
    assert.equal(event.response.reason, '');
  });

  it('reads a 64 KiB body pushed one byte at a time, with a bounded buffer', () => {
    const head = Buffer.from('ANNOUNCE rtsp://cam/ RTSP/1.0\r\nContent-Length: 65536\r\n\r\n');
    const input = Buffer.concat([head, Buffer.alloc(65536, 7), Buffer.from('$\x01\x00\x01x')]);
    const parser = new RtspStreamParser();
    const events: RtspParseEvent[] = [];
    for (let i = 0; i < input.length; i++) {
      events.push(...parser.push(input.subarray(i, i + 1)));
      assert.ok(parser.retainedBytes <= 4 * Math.max(parser.bufferedBytes, 16 * 1024));
    }
    assert.deepEqual(
      events.map((e) => e.type),
      ['request', 'interleaved'],
    );
    assert.equal(parser.bufferedBytes, 0);
    assert.ok(parser.retainedBytes <= 64 * 1024);
  });

  it('keeps the partial bytes it needs and no more', () => {
    const parser = new RtspStreamParser();
    assert.deepEqual(parser.push(Buffer.from([0x24, 0x00, 0x10, 0x00])), []);
    assert.equal(parser.bufferedBytes, 4);
    const events = parser.push(Buffer.alloc(0x1000, 7));
    assert.equal(events.length, 1);
    assert.equal(parser.bufferedBytes, 0);
  });
});
