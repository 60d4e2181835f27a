/** Transport, Session, Range and RTP-Info values: parse, format, round trip, garbage. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatRange,
  formatRtpInfo,
  formatSession,
  formatTransport,
  parseRange,
  parseRtpInfo,
  parseSession,
  parseTransport,
} from '../../../../src/protocol/rtsp/index.js';

describe('Transport', () => {
  it('reads ffmpeg and GStreamer TCP transports', () => {
    assert.deepEqual(parseTransport('RTP/AVP/TCP;unicast;interleaved=0-1'), [
      { protocol: 'RTP/AVP/TCP', delivery: 'unicast', interleaved: [0, 1] },
    ]);
    assert.deepEqual(
      parseTransport('RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5E1F2A3B;mode="PLAY"'),
      [
        {
          protocol: 'RTP/AVP/TCP',
          delivery: 'unicast',
          interleaved: [0, 1],
          ssrc: 0x5e1f2a3b,
          mode: 'PLAY',
        },
      ],
    );
  });

  it('reads UDP unicast, multicast, offers and unknown parameters', () => {
    const specs = parseTransport(
      'RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=00001F2E, ' +
        'RTP/AVP;multicast;destination=224.2.0.1;port=3456-3457;ttl=16, ' +
        'RTP/SAVP;unicast;client_port=5002;x-dynamic-rate=1;x-flag;mode="PLAY,RECORD"',
    );
    assert.deepEqual(specs, [
      {
        protocol: 'RTP/AVP',
        delivery: 'unicast',
        clientPort: [5000, 5001],
        serverPort: [6970, 6971],
        ssrc: 0x1f2e,
      },
      {
        protocol: 'RTP/AVP',
        delivery: 'multicast',
        destination: '224.2.0.1',
        port: [3456, 3457],
        ttl: 16,
      },
      {
        protocol: 'RTP/SAVP',
        delivery: 'unicast',
        clientPort: [5002, 5002],
        mode: 'PLAY,RECORD',
        other: [
          ['x-dynamic-rate', '1'],
          ['x-flag', undefined],
        ],
      },
    ]);
  });

  it('round-trips through formatTransport', () => {
    for (const value of [
      'RTP/AVP/TCP;unicast;interleaved=0-1',
      'RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=5E1F2A3B;mode="PLAY"',
      'RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=00001F2E',
      'RTP/AVP;multicast;destination=224.2.0.1;ttl=16;port=3456-3457',
      'RTP/AVP/UDP;unicast;client_port=5002,RTP/AVP/TCP;unicast;interleaved=0-1',
      'RTP/SAVP;unicast;source=10.0.0.1;append;client_port=1-2;x-flag;x-a=b',
    ]) {
      const specs = parseTransport(value);
      assert.ok(specs, value);
      assert.equal(formatTransport(specs), value);
      const [first] = specs;
      assert.ok(first);
      assert.deepEqual(parseTransport(formatTransport(first)), [first]);
    }
  });

  it('refuses garbage', () => {
    for (const value of [
      '',
      'RTP',
      'RTP/AVP;client_port=70000-70001',
      'RTP/AVP;client_port=a-b',
      'RTP/AVP;interleaved=300-301',
      'RTP/AVP;ssrc=XYZ',
      'RTP/AVP;ssrc=123456789',
      'RTP/AVP;ttl=-1',
      'RTP/AVP;bad name=1',
      'RTP/AVP;unicast,',
    ]) {
      assert.equal(parseTransport(value), undefined, value);
    }
  });
});

describe('Session', () => {
  it('reads id and timeout', () => {
    assert.deepEqual(parseSession('UdWjKzVdq2ZhKr4y;timeout=60'), {
      id: 'UdWjKzVdq2ZhKr4y',
      timeoutSeconds: 60,
    });
    assert.deepEqual(parseSession('12345678'), { id: '12345678' });
    assert.deepEqual(parseSession(' 8F3A21C0 ; timeout=65'), {
      id: '8F3A21C0',
      timeoutSeconds: 65,
    });
  });

  it('round-trips', () => {
    for (const value of ['abc-DEF_1.2+$', 'x;timeout=30']) {
      const session = parseSession(value);
      assert.ok(session);
      assert.equal(formatSession(session), value);
    }
  });

  it('refuses garbage', () => {
    for (const value of ['', ';timeout=1', 'a b', 'id;timeout=x', 'id;timeout=-5', 'ses"sion']) {
      assert.equal(parseSession(value), undefined, value);
    }
  });
});

describe('Range', () => {
  it('reads npt, smpte and clock ranges', () => {
    assert.deepEqual(parseRange('npt=0.000-'), { unit: 'npt', start: 0 });
    assert.deepEqual(parseRange('npt=now-'), { unit: 'npt', start: 'now' });
    assert.deepEqual(parseRange('npt=10-20.5'), { unit: 'npt', start: 10, end: 20.5 });
    assert.deepEqual(parseRange('npt=1:02:03.5-'), { unit: 'npt', start: 3723.5 });
    assert.deepEqual(parseRange('smpte=10:07:00-10:07:33:05.01'), {
      unit: 'smpte',
      start: '10:07:00',
      end: '10:07:33:05.01',
    });
    assert.deepEqual(parseRange('clock=19961108T142300Z-19961108T143520Z;time=19970123T143720Z'), {
      unit: 'clock',
      start: '19961108T142300Z',
      end: '19961108T143520Z',
      time: '19970123T143720Z',
    });
  });

  it('round-trips', () => {
    for (const value of ['npt=0.000-', 'npt=now-', 'npt=10.000-20.5', 'smpte-25=0:00:10-']) {
      const range = parseRange(value);
      assert.ok(range, value);
      assert.equal(formatRange(range), value);
    }
  });

  it('refuses garbage', () => {
    for (const value of [
      '',
      'npt',
      'npt=',
      'npt=-',
      'npt=a-b',
      'npt=5-now',
      'foo=1-2',
      'npt=1;x',
    ]) {
      assert.equal(parseRange(value), undefined, value);
    }
  });
});

describe('RTP-Info', () => {
  it('reads GStreamer and live555 values', () => {
    assert.deepEqual(
      parseRtpInfo('url=rtsp://127.0.0.1:8554/test/stream=0;seq=20154;rtptime=3513433463'),
      [{ url: 'rtsp://127.0.0.1:8554/test/stream=0', seq: 20154, rtptime: 3513433463 }],
    );
    assert.deepEqual(
      parseRtpInfo('url=rtsp://cam/track1;seq=9810092;rtptime=3450012,url=rtsp://cam/track2;seq=1'),
      undefined,
      'seq over 16 bits',
    );
    assert.deepEqual(
      parseRtpInfo('url=rtsp://cam/a;b=1/track1;seq=1;rtptime=2, url=rtsp://cam/x,y/track2;seq=3'),
      [
        { url: 'rtsp://cam/a;b=1/track1', seq: 1, rtptime: 2 },
        { url: 'rtsp://cam/x,y/track2', seq: 3 },
      ],
    );
  });

  it('round-trips', () => {
    const value = 'url=rtsp://h/s/trackID=0;seq=1;rtptime=4294967295,url=rtsp://h/s/trackID=1';
    const entries = parseRtpInfo(value);
    assert.ok(entries);
    assert.equal(formatRtpInfo(entries), value);
  });

  it('refuses garbage', () => {
    for (const value of ['', 'seq=1', 'url=', 'url=x;seq=65536', 'url=x;rtptime=4294967296']) {
      assert.equal(parseRtpInfo(value), undefined, value);
    }
  });
});
