/**
 * One request per protocol through a target before any load: the answer
 * must be the backend's (nginx's body; for gRPC, status OK and the echoed
 * message from a real gRPC client), so that requests/s counts requests that
 * went all the way through and back.
 */
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { NGINX_BODY } from './backends.js';
import type { Protocol } from './endpoints.js';
import { GRPC_MESSAGE, GRPC_METHOD_PATH } from './grpc-message.js';

const TIMEOUT_MS = 5_000;

/** Throws, saying what came back, unless the target answers `protocol` correctly on `port`. */
export async function checkAnswers(protocol: Protocol, port: number): Promise<void> {
  if (protocol === 'http1') return checkHttp1(port);
  if (protocol === 'http2') return checkHttp2(port);
  return checkGrpc(port);
}

async function checkHttp1(port: number): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/`, {
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const body = await response.text();
  if (response.status !== 200 || body !== NGINX_BODY) {
    throw new Error(
      `HTTP/1.1 GET / answered ${response.status} ${JSON.stringify(body.slice(0, 200))}`,
    );
  }
}

async function checkHttp2(port: number): Promise<void> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>(
      (resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no HTTP/2 answer in 5 s')), TIMEOUT_MS);
        session.once('error', reject);
        const stream = session.request({ ':path': '/', ':method': 'GET' });
        let statusCode = 0;
        let text = '';
        stream.on('response', (headers) => (statusCode = Number(headers[':status'])));
        stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        stream.once('error', reject);
        stream.once('end', () => {
          clearTimeout(timer);
          resolve({ status: statusCode, body: text });
        });
      },
    );
    if (status !== 200 || body !== NGINX_BODY) {
      throw new Error(`HTTP/2 GET / answered ${status} ${JSON.stringify(body.slice(0, 200))}`);
    }
  } finally {
    session.destroy();
  }
}

async function checkGrpc(port: number): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(
        GRPC_METHOD_PATH,
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        GRPC_MESSAGE,
        new grpc.Metadata(),
        { deadline: Date.now() + TIMEOUT_MS },
        (error, value) =>
          error || value === undefined ? reject(error ?? new Error('no reply')) : resolve(value),
      );
    });
    if (!reply.equals(GRPC_MESSAGE)) {
      throw new Error(`gRPC ${GRPC_METHOD_PATH} answered ${reply.toString('hex')}`);
    }
  } finally {
    client.close();
  }
}
