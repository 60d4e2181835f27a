/**
 * Live mediasoup objects in this process, counted from mediasoup's observer
 * events: every Router, transport, Producer and Consumer created by anyone is
 * counted up on creation and down on close. A count that does not return to
 * its earlier value after clients leave is a leak; the tests and the metrics
 * read it.
 */
import { observer, type types } from 'mediasoup';

export interface CensusCounts {
  workers: number;
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
}

const counts: CensusCounts = { workers: 0, routers: 0, transports: 0, producers: 0, consumers: 0 };
let installed = false;

/** Anything with a mediasoup observer that emits 'close'. */
interface Observed {
  readonly observer: { once(event: 'close', listener: () => void): unknown };
}

function track(kind: keyof CensusCounts, target: Observed): void {
  counts[kind] += 1;
  target.observer.once('close', () => {
    counts[kind] -= 1;
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
        track('transports', transport);
        transport.observer.on('newproducer', (producer: types.Producer) => {
          track('producers', producer);
        });
        transport.observer.on('newconsumer', (consumer: types.Consumer) => {
          track('consumers', consumer);
        });
      });
    });
  });
}

/** A copy of the current counts. */
export function censusCounts(): CensusCounts {
  return { ...counts };
}
