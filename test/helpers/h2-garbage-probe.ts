/**
 * A child process for test/integration/l7/h2-upstream-garbage.test.ts: it
 * makes upstream HTTP/2 requests to a node:http2 server of its own and prints
 * (as JSON) how many bytes a request left that outlived two scavenges and
 * was then freed by a full collection.
 *
 *   node --expose-gc dist/test/helpers/h2-garbage-probe.js runtime|lean|pool
 *
 * runtime: ClientHttp2Session.request with the runtime's AsyncResource.bind;
 * lean: the same with leanBind in its place; pool: streammesh's Http2Pool
 * (which puts leanBind in place itself). One mode per process: measured
 * in one process, the second mode inherited the first's heap and its
 * allocation decisions (V8 allocates objects of sites that often survived
 * straight in the old generation, the likely cause) and looked worse than
 * it was on its own.
 */
import { AsyncResource } from 'node:async_hooks';
import { connect, createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import { Http2Pool } from '../../rtp-proxy/l7/upstream/upstream-pool.js';
import {
  bindMakesAccessorsPerCall,
  currentBind,
  leanBind,
} from '../../src/shared/lean-async-bind.js';

const REQUESTS = 2_000;
const WARM_UP = 200;

const gc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const mode = process.argv[2];
if (mode !== 'runtime' && mode !== 'lean' && mode !== 'pool') {
  throw new Error('mode: runtime, lean or pool');
}
const runtimePerCall = bindMakesAccessorsPerCall();

const server = createServer();
server.on('stream', (stream) => {
  stream.respond({ ':status': 200 });
  stream.end('ok');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

let request: () => Promise<void>;
let close: () => void;
if (mode === 'pool') {
  const pool = new Http2Pool();
  const target = { id: 'backend', host: '127.0.0.1', port };
  request = async () => {
    const exchange = pool.open(target, {
      method: 'GET',
      path: '/',
      authority: 'backend',
      headers: {},
    });
    exchange.body.end();
    const response = await exchange.response;
    response.body.resume();
    await new Promise((resolve) => response.body.once('close', resolve));
  };
  close = () => pool.close();
} else {
  if (mode === 'lean') Reflect.set(AsyncResource.prototype, 'bind', leanBind);
  const session = connect(`http://127.0.0.1:${port}`);
  request = () =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ':path': '/' });
      stream.on('error', reject);
      stream.resume();
      stream.on('close', resolve);
    });
  close = () => session.close();
}

/** One request at a time: at a scavenge, no request is in flight to be kept legitimately. */
const oneByOne = async (count: number): Promise<void> => {
  for (let done = 0; done < count; done += 1) await request();
};
await oneByOne(WARM_UP);
gc();
await oneByOne(REQUESTS);
// The streams' close events run before the collections.
await new Promise((resolve) => setImmediate(resolve));
gc({ type: 'minor' });
gc({ type: 'minor' });
const afterScavenges = getHeapStatistics().used_heap_size;
gc();
const keptBytesPerRequest = (afterScavenges - getHeapStatistics().used_heap_size) / REQUESTS;
close();
server.close();
process.stdout.write(
  `${JSON.stringify({
    mode,
    runtimePerCall,
    leanInPlace: currentBind() === leanBind,
    keptBytesPerRequest,
  })}\n`,
);
