/**
 * How fast a target answers RTSP while it fans out: OPTIONS on one idle
 * connection of the driver's (a process with little else to do), every
 * `periodMs`, answer times recorded. A relay whose event loop is saturated
 * by the packet path answers late.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { RtspHeaders, RtspStreamParser, serializeRequest } from '../../src/protocol/rtsp/index.js';

export class OptionsProbe {
  readonly times: number[] = [];
  /** Requests not answered within the probe's life. */
  unanswered = 0;
  readonly #socket: Socket;
  readonly #url: string;
  readonly #parser = new RtspStreamParser();
  #sentAt: number | undefined;
  #cseq = 0;
  #timer: NodeJS.Timeout | undefined;

  private constructor(socket: Socket, url: string) {
    this.#socket = socket;
    this.#url = url;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const event of this.#parser.push(chunk)) {
        if (event.type === 'response' && this.#sentAt !== undefined) {
          this.times.push(performance.now() - this.#sentAt);
          this.#sentAt = undefined;
        }
      }
    });
  }

  static async start(url: string, periodMs: number): Promise<OptionsProbe> {
    const target = new URL(url);
    const socket = connect({ host: target.hostname, port: Number(target.port || 554) });
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const probe = new OptionsProbe(socket, url);
    probe.#timer = setInterval(() => {
      probe.#send();
    }, periodMs);
    probe.#send();
    return probe;
  }

  stop(): void {
    clearInterval(this.#timer);
    if (this.#sentAt !== undefined) this.unanswered += 1;
    this.#socket.destroy();
  }

  #send(): void {
    // One request in flight: a late answer delays the next probe, it does not pile them up.
    if (this.#sentAt !== undefined) return;
    const headers = new RtspHeaders([
      ['CSeq', String(++this.#cseq)],
      ['User-Agent', 'streammesh-bench-probe'],
    ]);
    this.#sentAt = performance.now();
    this.#socket.write(
      serializeRequest({
        method: 'OPTIONS',
        url: this.#url,
        version: 'RTSP/1.0',
        headers,
        body: Buffer.alloc(0),
      }),
    );
  }
}
