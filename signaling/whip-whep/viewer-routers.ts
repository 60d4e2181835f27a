/**
 * The Routers WHEP viewers consume on. A Consumer sends with its Router's
 * payload types and a WHEP answer must use the viewer's, so viewers consume
 * on a Router created with the source's codecs at their payload types, the
 * source's producers piped into it. Viewers of one source whose offers give
 * the same payload types (every Chromium of a version, say) share one such
 * Router and one pipe per producer: 50 browsers watching a camera cost one
 * extra Router and one pipe, not 50.
 *
 * A Router lives while a viewer holds a lease on it; the last release closes
 * it, and with it its side of the pipes (mediasoup closes the source side).
 *
 * A new Router and its pipes (which bind ports) are made for each payload
 * type combination a viewer offers, so one is charged to the rooms budget of
 * the viewer that made it: varied offers from one address cannot make
 * Routers and pipes without bound.
 */
import type { types } from 'mediasoup';
import type { BudgetLease, WebRtcBudget } from '../server/index.js';
import type { WorkerPool } from '../sfu/index.js';

export interface ViewerRouterLease {
  readonly router: types.Router;
  /** The producer as piped into this Router (piped once, shared by its viewers). */
  pipe(producer: types.Producer): Promise<types.Producer>;
  /** Called once per lease; the last one closes the Router. */
  release(): void;
}

interface Entry {
  readonly router: Promise<types.Router>;
  readonly pipes: Map<string, Promise<types.Producer>>;
  leases: number;
}

export class ViewerRouters {
  readonly #pool: WorkerPool;
  readonly #budget: WebRtcBudget;
  readonly #entries = new Map<string, Entry>();

  constructor(pool: WorkerPool, budget: WebRtcBudget) {
    this.#pool = pool;
    this.#budget = budget;
  }

  /**
   * A lease on the Router for `codecs`, made if none exists, then charged to
   * `client` (the viewer's address) as a room: throws OverBudgetError.
   */
  async acquire(
    source: types.Router,
    codecs: readonly types.RouterRtpCodecCapability[],
    client: string,
  ): Promise<ViewerRouterLease> {
    const key = `${source.id} ${JSON.stringify(codecs)}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = this.#create(key, source, codecs, this.#budget.take('rooms', client));
    }
    entry.leases += 1;
    const held = entry;
    let router: types.Router;
    try {
      router = await held.router;
    } catch (error) {
      held.leases -= 1;
      throw error;
    }
    let released = false;
    return {
      router,
      pipe: (producer) => this.#pipe(held, source, router, producer),
      release: () => {
        if (released) return;
        released = true;
        held.leases -= 1;
        if (held.leases === 0) {
          if (this.#entries.get(key) === held) this.#entries.delete(key);
          router.close();
        }
      },
    };
  }

  #create(
    key: string,
    source: types.Router,
    codecs: readonly types.RouterRtpCodecCapability[],
    lease: BudgetLease,
  ): Entry {
    // Its consumers are counted in the stats under the source's room or camera.
    const { room, camera } = source.appData;
    const appData = { whepFor: source.id, room, camera };
    const router = this.#pool.createRouter(codecs, appData).then((placed) => {
      // Gone with its worker: the next viewer makes a new one.
      placed.router.observer.once('close', () => {
        lease.release();
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      });
      return placed.router;
    });
    router.catch(() => {
      lease.release();
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    const entry: Entry = { router, pipes: new Map(), leases: 0 };
    this.#entries.set(key, entry);
    return entry;
  }

  async #pipe(
    entry: Entry,
    source: types.Router,
    router: types.Router,
    producer: types.Producer,
  ): Promise<types.Producer> {
    let piped = entry.pipes.get(producer.id);
    if (piped === undefined) {
      piped = source
        .pipeToRouter({
          producerId: producer.id,
          router,
          // A second Producer with the same id in one worker is refused.
          keepId: false,
        })
        .then(({ pipeProducer }) => {
          if (pipeProducer === undefined) throw new Error('pipeToRouter gave no producer');
          pipeProducer.observer.once('close', () => {
            if (entry.pipes.get(producer.id) === piped) entry.pipes.delete(producer.id);
          });
          return pipeProducer;
        });
      const pending = piped;
      pending.catch(() => {
        if (entry.pipes.get(producer.id) === pending) entry.pipes.delete(producer.id);
      });
      entry.pipes.set(producer.id, pending);
    }
    return piped;
  }
}
