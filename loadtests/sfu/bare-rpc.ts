/**
 * The baseline SFU: mediasoup driven directly, with none of streammesh's
 * signaling (no rooms, peers, limits, notifications, stats or census). A
 * Router per room, WebRtcTransports, Producers and Consumers are created
 * with the mediasoup API on the calls of a bare JSON-over-HTTP RPC (one POST
 * per call), the least any application must add to reach mediasoup from
 * another process. Transports and consumers get the options streammesh's
 * signaling node uses (UDP and TCP on 127.0.0.1, UDP preferred, 1 Mbit/s
 * initial outgoing estimate, the 5 Mbit/s incoming cap on send transports,
 * consumers created paused), so the media path measured is the same.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { types } from 'mediasoup';
import { transportParameters } from '../../signaling/sfu/index.js';
import type { ConsumerParameters, SfuChannel } from '../../test/helpers/peers/werift-signaling.js';

type Call =
  | { method: 'routerRtpCapabilities'; room: string }
  | { method: 'createTransport'; room: string; direction: 'send' | 'recv' }
  | { method: 'connectTransport'; transportId: string; dtlsParameters: types.DtlsParameters }
  | {
      method: 'produce';
      transportId: string;
      kind: types.MediaKind;
      rtpParameters: types.RtpParameters;
    }
  | {
      method: 'consume';
      transportId: string;
      producerId: string;
      rtpCapabilities: types.RtpCapabilities;
    }
  | { method: 'resumeConsumer'; consumerId: string };

/** Bits/s accepted on a send transport: streammesh's default signaling.peerLimits.incomingBitrate. */
const MAX_INCOMING_BITRATE = 5_000_000;
/** Request bodies are small JSON; anything larger is refused unread. */
const MAX_BODY_BYTES = 256 * 1024;

export class BareSfu {
  readonly #worker: types.Worker;
  readonly #codecs: types.RouterRtpCodecCapability[];
  readonly #rooms = new Map<string, Promise<types.Router>>();
  readonly #transports = new Map<string, types.WebRtcTransport>();
  readonly #consumers = new Map<string, types.Consumer>();
  readonly #server: Server;

  private constructor(worker: types.Worker, codecs: types.RouterRtpCodecCapability[]) {
    this.#worker = worker;
    this.#codecs = codecs;
    this.#server = createServer((request, response) => {
      this.#serve(request, response).catch((error: unknown) => {
        reply(response, 500, { error: error instanceof Error ? error.message : String(error) });
      });
    });
  }

  /** Listens on 127.0.0.1; the URL to POST calls to is `url`. */
  static async start(
    worker: types.Worker,
    codecs: types.RouterRtpCodecCapability[],
  ): Promise<BareSfu> {
    const sfu = new BareSfu(worker, codecs);
    await new Promise<void>((resolve) => sfu.#server.listen(0, '127.0.0.1', resolve));
    return sfu;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/rpc`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST') {
      reply(response, 405, { error: 'POST a call' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reply(response, 413, { error: 'too large' });
        return;
      }
      chunks.push(chunk);
    }
    const call = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Call;
    reply(response, 200, await this.#call(call));
  }

  async #call(call: Call): Promise<unknown> {
    switch (call.method) {
      case 'routerRtpCapabilities':
        return (await this.#router(call.room)).rtpCapabilities;
      case 'createTransport': {
        const router = await this.#router(call.room);
        const transport = await router.createWebRtcTransport({
          listenInfos: [
            { protocol: 'udp', ip: '127.0.0.1' },
            { protocol: 'tcp', ip: '127.0.0.1' },
          ],
          enableUdp: true,
          enableTcp: true,
          preferUdp: true,
          initialAvailableOutgoingBitrate: 1_000_000,
        });
        if (call.direction === 'send') await transport.setMaxIncomingBitrate(MAX_INCOMING_BITRATE);
        this.#transports.set(transport.id, transport);
        return transportParameters(transport);
      }
      case 'connectTransport':
        await this.#transport(call.transportId).connect({ dtlsParameters: call.dtlsParameters });
        return {};
      case 'produce': {
        const producer = await this.#transport(call.transportId).produce({
          kind: call.kind,
          rtpParameters: call.rtpParameters,
        });
        return { producerId: producer.id };
      }
      case 'consume': {
        const consumer = await this.#transport(call.transportId).consume({
          producerId: call.producerId,
          rtpCapabilities: call.rtpCapabilities,
          paused: true,
        });
        this.#consumers.set(consumer.id, consumer);
        const parameters: ConsumerParameters = {
          consumerId: consumer.id,
          producerId: call.producerId,
          kind: consumer.kind,
          rtpParameters: consumer.rtpParameters,
        };
        return parameters;
      }
      case 'resumeConsumer': {
        const consumer = this.#consumers.get(call.consumerId);
        if (consumer === undefined) throw new Error(`no consumer ${call.consumerId}`);
        await consumer.resume();
        return {};
      }
    }
  }

  #router(room: string): Promise<types.Router> {
    let router = this.#rooms.get(room);
    if (router === undefined) {
      router = this.#worker.createRouter({ mediaCodecs: this.#codecs });
      this.#rooms.set(room, router);
    }
    return router;
  }

  #transport(id: string): types.WebRtcTransport {
    const transport = this.#transports.get(id);
    if (transport === undefined) throw new Error(`no transport ${id}`);
    return transport;
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A werift peer's channel to the bare SFU, for one room. */
export function bareChannel(url: string, room: string): SfuChannel {
  const call = async <T>(body: Call): Promise<T> => {
    const response = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const data = (await response.json()) as T & { error?: string };
    if (!response.ok) throw new Error(`${body.method}: ${data.error ?? response.status}`);
    return data;
  };
  return {
    routerRtpCapabilities: () => call({ method: 'routerRtpCapabilities', room }),
    createTransport: (direction) => call({ method: 'createTransport', room, direction }),
    async connectTransport(transportId, dtlsParameters) {
      await call({ method: 'connectTransport', transportId, dtlsParameters });
    },
    async produce(transportId, kind, rtpParameters) {
      const data = await call<{ producerId: string }>({
        method: 'produce',
        transportId,
        kind,
        rtpParameters,
      });
      return data.producerId;
    },
    consume: (transportId, producerId, rtpCapabilities) =>
      call({ method: 'consume', transportId, producerId, rtpCapabilities }),
    async resumeConsumer(consumerId) {
      await call({ method: 'resumeConsumer', consumerId });
    },
  };
}
