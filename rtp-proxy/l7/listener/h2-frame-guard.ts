/**
 * Checks every HTTP/2 frame header a client sends before node's HTTP/2
 * session sees it. nghttp2 answers a connection error with a GOAWAY but node
 * tells no one and keeps the socket open, so without this an invalid frame
 * would be neither counted nor cut off. The checks are the connection errors
 * of RFC 9113 that a frame header shows (sizes, stream 0 rules, stream
 * parity, CONTINUATION order); HPACK errors stay nghttp2's to find.
 *
 * It also follows the streams the client has open (ClientStreamCount, from
 * the frames of both directions), so a stream over maxConcurrentStreams is a
 * violation of its own (max_concurrent_streams) rather than nghttp2's generic
 * session error; and it tells the listener of each stream node refuses with
 * RST_STREAM ENHANCE_YOUR_CALM (the session over maxSessionMemory, or a
 * header list over node's limits), which node reports nowhere else.
 *
 * It sits between the socket and the session as a Duplex: bytes pass through
 * unchanged; on the first violation it counts a reason, sends GOAWAY with
 * the error code, and closes the socket.
 *
 * The price: a session on a Duplex runs on node's JS-stream path
 * (JSStreamSocket) instead of owning the socket natively, 8-9% more CPU per
 * HTTP/2 and gRPC request in one process, alternated (issue 20). So it is
 * the listener's choice (checkHttp2Frames 'guard'): by default
 * ('nghttp2') the session keeps the native path, nghttp2 refuses invalid
 * frames itself, and H2RefusalWatch notices it, with one reason for all
 * shapes and a close within about a second rather than at once. On the
 * native path node reports nothing for five of these shapes
 * (test/integration/l7/h2-native-signals.test.ts), which is why the watch
 * has to probe.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { FRAME_HEADER_LENGTH, FrameReader, type FrameHeader } from './h2-frame-reader.js';
import { ClientStreamCount } from './h2-stream-count.js';

const PREFACE_LENGTH = 24;
/** We never raise SETTINGS_MAX_FRAME_SIZE, so the default is the limit (RFC 9113 section 4.2). */
const MAX_FRAME_SIZE = 16_384;

const FrameType = {
  Data: 0x0,
  Headers: 0x1,
  Priority: 0x2,
  RstStream: 0x3,
  Settings: 0x4,
  PushPromise: 0x5,
  Ping: 0x6,
  Goaway: 0x7,
  WindowUpdate: 0x8,
  Continuation: 0x9,
} as const;

const PROTOCOL_ERROR = 0x1;
const FRAME_SIZE_ERROR = 0x6;
const ENHANCE_YOUR_CALM = 0xb;
/** An RST_STREAM's payload is its 4-byte error code. */
const RST_STREAM_LENGTH = 4;
const END_HEADERS = 0x4;
const ACK = 0x1;

export interface FrameViolation {
  /** A metric label: what was wrong. */
  readonly reason: string;
  readonly errorCode: number;
}

/** The violation a frame header shows, or undefined when it is acceptable here. */
export function checkFrameHeader(
  type: number,
  flags: number,
  streamId: number,
  length: number,
  state: { expectContinuation: number; first: boolean },
): FrameViolation | undefined {
  const violation = (reason: string, errorCode = PROTOCOL_ERROR): FrameViolation => ({
    reason,
    errorCode,
  });
  if (state.first && type !== FrameType.Settings) return violation('h2_preface_not_settings');
  state.first = false;
  if (length > MAX_FRAME_SIZE) return violation('h2_frame_too_large', FRAME_SIZE_ERROR);
  if (state.expectContinuation !== 0) {
    if (type !== FrameType.Continuation || streamId !== state.expectContinuation) {
      return violation('h2_continuation_expected');
    }
  } else if (type === FrameType.Continuation) {
    return violation('h2_continuation_unexpected');
  }
  switch (type) {
    case FrameType.Data:
    case FrameType.Priority:
    case FrameType.RstStream:
      if (streamId === 0) return violation('h2_stream_zero');
      break;
    case FrameType.Headers:
    case FrameType.Continuation:
      if (streamId === 0) return violation('h2_stream_zero');
      // Clients open odd streams only (RFC 9113 section 5.1.1).
      if (type === FrameType.Headers && streamId % 2 === 0) return violation('h2_even_stream');
      state.expectContinuation = (flags & END_HEADERS) === 0 ? streamId : 0;
      break;
    case FrameType.Settings:
      if (streamId !== 0) return violation('h2_settings_on_stream');
      if ((flags & ACK) !== 0 ? length !== 0 : length % 6 !== 0) {
        return violation('h2_settings_size', FRAME_SIZE_ERROR);
      }
      break;
    case FrameType.Ping:
      if (streamId !== 0) return violation('h2_ping_on_stream');
      if (length !== 8) return violation('h2_ping_size', FRAME_SIZE_ERROR);
      break;
    case FrameType.Goaway:
      if (streamId !== 0) return violation('h2_goaway_on_stream');
      break;
    case FrameType.PushPromise:
      // A client must never push (RFC 9113 section 8.4).
      return violation('h2_push_from_client');
    default:
      break;
  }
  if (type === FrameType.WindowUpdate && length !== 4) {
    return violation('h2_window_update_size', FRAME_SIZE_ERROR);
  }
  if (type === FrameType.RstStream && length !== 4) {
    return violation('h2_rst_stream_size', FRAME_SIZE_ERROR);
  }
  if (type === FrameType.Priority && length !== 5) {
    return violation('h2_priority_size', FRAME_SIZE_ERROR);
  }
  return undefined;
}

export interface H2FrameGuardOptions {
  /** The SETTINGS_MAX_CONCURRENT_STREAMS the server advertises. */
  readonly maxConcurrentStreams: number;
  /** Told of each stream the server refused with ENHANCE_YOUR_CALM (a metric label). */
  readonly onStreamRefused: (reason: 'h2_enhance_your_calm') => void;
}

export class H2FrameGuard extends Duplex {
  readonly #socket: Socket;
  readonly #onViolation: (violation: FrameViolation) => void;
  readonly #onStreamRefused: H2FrameGuardOptions['onStreamRefused'];
  readonly #fromClient = new FrameReader(PREFACE_LENGTH);
  readonly #fromServer = new FrameReader(0, (frame) =>
    frame.type === FrameType.RstStream ? RST_STREAM_LENGTH : 0,
  );
  readonly #streams: ClientStreamCount;
  readonly #state = { expectContinuation: 0, first: true };
  #lastStreamId = 0;
  #failed = false;

  constructor(
    socket: Socket,
    onViolation: (violation: FrameViolation) => void,
    options: H2FrameGuardOptions,
  ) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#onViolation = onViolation;
    this.#onStreamRefused = options.onStreamRefused;
    this.#streams = new ClientStreamCount(options.maxConcurrentStreams);
    socket.on('data', (chunk: Buffer) => {
      if (this.#failed || !this.#fromClient.read(chunk, this.#checkClientFrame)) return;
      if (!this.push(chunk)) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.once('close', () => this.destroy());
    socket.on('error', (error) => this.destroy(error));
  }

  /** The client's address, which the session cannot read through a JS stream. */
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    this.#fromServer.read(chunk, this.#noteServerFrame);
    if (this.#socket.write(chunk)) done();
    else this.#socket.once('drain', () => done());
  }

  /** The frames node wrote together (corked) leave in one system call, as on a native socket. */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    done: (error?: Error | null) => void,
  ): void {
    this.#socket.cork();
    let drained = true;
    for (const { chunk } of chunks) {
      this.#fromServer.read(chunk, this.#noteServerFrame);
      drained = this.#socket.write(chunk);
    }
    this.#socket.uncork();
    if (drained) done();
    else this.#socket.once('drain', () => done());
  }

  override _final(done: () => void): void {
    this.#socket.end();
    done();
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    if (this.#failed) {
      // The GOAWAY is on its way out with socket.end(); cut off a client that never reads it.
      setTimeout(() => this.#socket.destroy(), 1_000).unref();
    } else {
      this.#socket.destroy();
    }
    done(error);
  }

  /** false (the connection is being closed) for a frame that violates the protocol or the stream limit. */
  readonly #checkClientFrame = (frame: FrameHeader): boolean => {
    const { type, flags, streamId, length } = frame;
    const violation =
      checkFrameHeader(type, flags, streamId, length, this.#state) ??
      (this.#streams.fromClient(frame)
        ? undefined
        : // RFC 9113 section 5.1.2 allows a stream error here; the frame's header
          // block cannot be dropped without breaking HPACK, so, as nghttp2 does,
          // the connection goes.
          { reason: 'max_concurrent_streams', errorCode: PROTOCOL_ERROR });
    if (violation !== undefined) {
      this.#fail(violation);
      return false;
    }
    if (type === FrameType.Headers && streamId > this.#lastStreamId) this.#lastStreamId = streamId;
    return true;
  };

  readonly #noteServerFrame = (frame: FrameHeader, payload: Buffer): boolean => {
    this.#streams.fromServer(frame);
    if (
      frame.type === FrameType.RstStream &&
      payload.length === RST_STREAM_LENGTH &&
      payload.readUInt32BE(0) === ENHANCE_YOUR_CALM
    ) {
      this.#onStreamRefused('h2_enhance_your_calm');
    }
    return true;
  };

  #fail(violation: FrameViolation): void {
    this.#failed = true;
    this.#onViolation(violation);
    const goaway = Buffer.alloc(FRAME_HEADER_LENGTH + 8);
    goaway.writeUIntBE(8, 0, 3);
    goaway[3] = FrameType.Goaway;
    goaway.writeUInt32BE(this.#lastStreamId, FRAME_HEADER_LENGTH);
    goaway.writeUInt32BE(violation.errorCode, FRAME_HEADER_LENGTH + 4);
    this.#socket.end(goaway);
    this.destroy();
  }
}
