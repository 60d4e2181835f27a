/**
 * Live mediasoup objects in this process, followed through mediasoup's
 * observer events: every Router, transport, Producer and Consumer created by
 * anyone is counted up on creation and down on close. A count that does not
 * return to its earlier value after clients leave is a leak; the tests and the
 * metrics read it. The live Producers and Consumers, with the transport and
 * Router they belong to, are what the stats collector samples.
 */
import { observer, type types } from 'mediasoup';

export interface CensusCounts {
  workers: number;
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
}

/** A live Producer or Consumer with where it lives. */
export interface LiveStream<Stream> {
  readonly stream: Stream;
  readonly transport: types.Transport;
  readonly router: types.Router;
}

const counts: CensusCounts = { workers: 0, routers: 0, transports: 0, producers: 0, consumers: 0 };
// Keyed by the object, not its id: a cascade pipe producer takes the id of
// the producer it carries, and two nodes may share a process (tests, the bench).
const producers = new Map<types.Producer, LiveStream<types.Producer>>();
const consumers = new Map<types.Consumer, LiveStream<types.Consumer>>();
let installed = false;

/** Anything with a mediasoup observer that emits 'close'. */
interface Observed {
  readonly observer: { once(event: 'close', listener: () => void): unknown };
}

function track(kind: keyof CensusCounts, target: Observed, onClose?: () => void): void {
  counts[kind] += 1;
  target.observer.once('close', () => {
    counts[kind] -= 1;
    onClose?.();
  });
}

function followTransport(router: types.Router, transport: types.Transport): void {
  track('transports', transport);
  transport.observer.on('newproducer', (producer: types.Producer) => {
    producers.set(producer, { stream: producer, transport, router });
    track('producers', producer, () => producers.delete(producer));
  });
  transport.observer.on('newconsumer', (consumer: types.Consumer) => {
    consumers.set(consumer, { stream: consumer, transport, router });
    track('consumers', consumer, () => consumers.delete(consumer));
  });
}

/** Starts counting (idempotent). Objects created before the first call are not counted. */
export function installCensus(): void {
  if (installed) return;
  installed = true;
  observer.on('newworker', (worker: types.Worker) => {
    track('workers', worker);
    worker.observer.on('newrouter', (router: types.Router) => {
      track('routers', router);
      router.observer.on('newtransport', (transport: types.Transport) => {
        followTransport(router, transport);
      });
    });
  });
}

/** A copy of the current counts. */
export function censusCounts(): CensusCounts {
  return { ...counts };
}

export function liveProducers(): IterableIterator<LiveStream<types.Producer>> {
  return producers.values();
}

export function liveConsumers(): IterableIterator<LiveStream<types.Consumer>> {
  return consumers.values();
}
