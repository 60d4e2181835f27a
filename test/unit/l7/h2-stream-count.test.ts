/**
 * The frame guard's two helpers on bytes in memory: FrameReader finds every
 * frame header however the stream is cut into reads (and hands over an
 * RST_STREAM's error code split across reads); ClientStreamCount follows the
 * streams a client has open from both directions and flags the one over the
 * limit, only once the client has acknowledged the server's SETTINGS.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameReader, type FrameHeader } from '../../../rtp-proxy/l7/listener/h2-frame-reader.js';
import { ClientStreamCount } from '../../../rtp-proxy/l7/listener/h2-stream-count.js';

function frame(type: number, flags: number, streamId: number, payload = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

const header = (type: number, flags: number, streamId: number): FrameHeader => ({
  type,
  flags,
  streamId,
  length: 0,
});

describe('FrameReader', () => {
  it('finds the same frames whatever the read sizes, with the payload bytes asked for', () => {
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(0xb);
    const preface = Buffer.alloc(24, 0x50);
    const bytes = Buffer.concat([
      preface,
      frame(0x4, 0, 0, Buffer.alloc(12)),
      frame(0x1, 0x5, 1, Buffer.alloc(40, 1)),
      frame(0x3, 0, 1, rst),
      frame(0x0, 0x1, 3, Buffer.alloc(100)),
    ]);
    const expected = ['4/0', '1/1', '3/1:11', '0/3'];
    for (const size of [1, 2, 5, 9, 10, 33, bytes.length]) {
      const reader = new FrameReader(24, (found) => (found.type === 0x3 ? 4 : 0));
      const seen: string[] = [];
      for (let at = 0; at < bytes.length; at += size) {
        reader.read(bytes.subarray(at, at + size), (found, payload) => {
          seen.push(
            `${found.type}/${found.streamId}${payload.length === 4 ? `:${payload.readUInt32BE(0)}` : ''}`,
          );
          return true;
        });
      }
      assert.deepEqual(seen, expected, `reads of ${size} bytes`);
    }
  });

  it('stops at the frame its caller refuses', () => {
    const reader = new FrameReader(0);
    const seen: number[] = [];
    const bytes = Buffer.concat([frame(0x4, 0, 0), frame(0x1, 0x5, 1), frame(0x1, 0x5, 3)]);
    const going = reader.read(bytes, (found) => {
      seen.push(found.streamId);
      return found.streamId !== 1;
    });
    assert.equal(going, false);
    assert.deepEqual(seen, [0, 1]);
  });
});

describe('ClientStreamCount', () => {
  it('flags a stream over the limit once the client has acknowledged the SETTINGS', () => {
    const streams = new ClientStreamCount(2);
    assert.equal(streams.fromClient(header(0x1, 0x4, 1)), true);
    assert.equal(streams.fromClient(header(0x1, 0x4, 3)), true);
    // Before the ACK, nghttp2 refuses excess streams one by one: not ours to flag.
    assert.equal(streams.fromClient(header(0x1, 0x4, 5)), true);
    streams.fromServer(header(0x3, 0, 5));
    assert.equal(streams.fromClient(header(0x4, 0x1, 0)), true);
    assert.equal(streams.open, 2);
    assert.equal(streams.fromClient(header(0x1, 0x4, 7)), false);
  });

  it('frees a stream when both sides end it, or either resets it', () => {
    const streams = new ClientStreamCount(1);
    streams.fromClient(header(0x4, 0x1, 0));
    // A GET: the client ends its side with the HEADERS, the server with its last DATA.
    assert.equal(streams.fromClient(header(0x1, 0x5, 1)), true);
    streams.fromServer(header(0x1, 0x4, 1));
    assert.equal(streams.open, 1);
    streams.fromServer(header(0x0, 0x1, 1));
    assert.equal(streams.open, 0);
    // An upload: the server answers first, the client's last DATA closes it.
    assert.equal(streams.fromClient(header(0x1, 0x4, 3)), true);
    streams.fromServer(header(0x1, 0x5, 3));
    assert.equal(streams.fromClient(header(0x1, 0x4, 5)), false);
    streams.fromClient(header(0x0, 0x1, 3));
    assert.equal(streams.open, 0);
    // Reset by the client, and by the server.
    assert.equal(streams.fromClient(header(0x1, 0x4, 7)), true);
    streams.fromClient(header(0x3, 0, 7));
    assert.equal(streams.fromClient(header(0x1, 0x4, 9)), true);
    streams.fromServer(header(0x3, 0, 9));
    assert.equal(streams.open, 0);
    // Trailers end the client's side of a stream already open; they open nothing.
    assert.equal(streams.fromClient(header(0x1, 0x4, 11)), true);
    assert.equal(streams.fromClient(header(0x1, 0x5, 11)), true);
    streams.fromServer(header(0x1, 0x5, 11));
    assert.equal(streams.open, 0);
  });
});
