/**
 * Why H2RefusalWatch has to probe (checkHttp2Frames 'nghttp2', the default)
 * and why the frame guard ('guard') reads the client's bytes: on node's
 * native socket path, nghttp2 refuses these invalid frames with a GOAWAY,
 * but node tells its user nothing and keeps the connection, unread, until
 * the idle timeout. Counting them and closing the connection cannot be
 * built on node's events.
 *
 * A plain node:http2 server (no streammesh code) on real sockets, fed each
 * shape by a raw client. When a node upgrade makes one of these cases
 * observable (a session 'error', 'frameError' or 'close', or the socket
 * closed), this test fails: the watch may then listen for it instead of
 * probing (see h2-refusal-watch.ts).
 */
import assert from 'node:assert/strict';
import { createServer as createHttp2Server, type ServerHttp2Session } from 'node:http2';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HTTP2_PREFACE, delay, h2Frame, h2FramesIn } from '../../helpers/l7-harness.js';
import { SILENT_ON_NATIVE_PATH } from '../../helpers/h2-invalid-frames.js';

const settings = h2Frame(0x4, 0, 0);

/** How long node is given to say something; the guard closes such a connection at once. */
const WATCH_MS = 500;

describe("node's native HTTP/2 path and invalid frames", () => {
  const http2 = createHttp2Server({ maxSessionInvalidFrames: 0 });
  const tcp = createTcpServer();
  /** Per connection, in order: what node told the server about it. */
  const seen: { events: string[]; socket: Socket }[] = [];
  let port = 0;

  before(async () => {
    http2.on('session', (session: ServerHttp2Session) => {
      const entry = seen[seen.length - 1];
      if (entry === undefined) return;
      for (const event of ['error', 'frameError', 'close', 'goaway'] as const) {
        session.on(event, (...args: unknown[]) => {
          const code = (args[0] as { code?: string } | undefined)?.code ?? '';
          entry.events.push(`${event}${code === '' ? '' : `:${code}`}`);
        });
      }
    });
    tcp.on('connection', (socket: Socket) => {
      const events: string[] = [];
      seen.push({ events, socket });
      socket.on('close', () => events.push('socket-close'));
      socket.on('error', () => undefined);
      http2.emit('connection', socket);
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    port = (tcp.address() as AddressInfo).port;
  });

  after(async () => {
    for (const { socket } of seen) socket.destroy();
    await new Promise((resolve) => tcp.close(resolve));
    http2.close();
  });

  for (const shape of SILENT_ON_NATIVE_PATH) {
    it(`${shape.name}: nghttp2 sends GOAWAY ${shape.code}, node reports nothing and keeps the socket`, async () => {
      const client = connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      let received = Buffer.alloc(0);
      client.on('data', (part: Buffer) => (received = Buffer.concat([received, part])));
      await new Promise((resolve) => client.once('connect', resolve));
      client.write(Buffer.concat([HTTP2_PREFACE, settings, shape.bytes]));
      await delay(WATCH_MS);
      const entry = seen[seen.length - 1];
      // Read before the client goes: its close is not the server's doing.
      const events = [...(entry?.events ?? ['no connection'])];
      const open = entry?.socket.destroyed === false;
      client.destroy();
      const goaway = h2FramesIn(received).find((frame) => frame.type === 0x7);
      assert.equal(goaway?.payload.readUInt32BE(4), shape.code, 'nghttp2 no longer refuses it so');
      assert.deepEqual(
        events,
        [],
        'node now reports this case: the refusal watch may not need to probe for it',
      );
      assert.ok(open, 'node closed the connection by itself');
    });
  }
});
