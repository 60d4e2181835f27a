/**
 * Which producers piped in from other nodes (copies) are used here: a copy
 * lives while something on this node consumes it, and `lingerMs` after its
 * last consumer closed (a viewer switching back costs no new pipe). Then it
 * is unused: the cascade closes it and tells its node (`unpipe`).
 *
 * Consumers are counted on the room's Router as mediasoup reports them
 * (router and transport observers): a WebSocket peer's Consumer and the
 * pipe Consumer a WHEP viewer's Router takes alike, whoever made them. The
 * cascade's own pipe transports are not counted: their consumers carry this
 * node's producers out, not a copy to anyone here.
 */
import type { types } from 'mediasoup';

export interface RoomCopiesOptions {
  /** How long a copy outlives its last consumer (read each time it loses it). */
  readonly lingerMs: () => number;
  /** A copy went unused for lingerMs: close it and tell `origin`. */
  readonly unused: (room: string, origin: string, producerId: string) => void;
}

interface Copy {
  readonly room: string;
  readonly origin: string;
  readonly producerId: string;
  consumers: number;
  linger: NodeJS.Timeout | undefined;
}

const key = (room: string, producerId: string): string => `${room}\n${producerId}`;

export class RoomCopies {
  readonly #options: RoomCopiesOptions;
  readonly #copies = new Map<string, Copy>();

  constructor(options: RoomCopiesOptions) {
    this.#options = options;
  }

  /** Copies followed now. */
  get size(): number {
    return this.#copies.size;
  }

  /** A new copy: no consumer yet (the consume that asked for it follows at once). */
  add(room: string, origin: string, producer: types.Producer): void {
    const copyKey = key(room, producer.id);
    if (this.#copies.has(copyKey)) return;
    const copy: Copy = { room, origin, producerId: producer.id, consumers: 0, linger: undefined };
    this.#copies.set(copyKey, copy);
    this.#lingerLater(copy);
    producer.observer.once('close', () => {
      this.#forget(copy);
    });
  }

  /** Counts the consumers of the room's copies on its Router from now on. */
  follow(room: string, router: types.Router): void {
    router.observer.on('newtransport', (transport: types.Transport) => {
      if (typeof transport.appData['pipeId'] === 'string') return;
      transport.observer.on('newconsumer', (consumer: types.Consumer) => {
        const copy = this.#copies.get(key(room, consumer.producerId));
        if (copy === undefined) return;
        copy.consumers += 1;
        clearTimeout(copy.linger);
        copy.linger = undefined;
        consumer.observer.once('close', () => {
          copy.consumers -= 1;
          if (copy.consumers === 0 && this.#live(copy)) this.#lingerLater(copy);
        });
      });
    });
  }

  /** The room closed here: its copies closed with its Router. */
  forgetRoom(room: string): void {
    for (const copy of [...this.#copies.values()]) if (copy.room === room) this.#forget(copy);
  }

  close(): void {
    for (const copy of [...this.#copies.values()]) this.#forget(copy);
  }

  #live(copy: Copy): boolean {
    return this.#copies.get(key(copy.room, copy.producerId)) === copy;
  }

  #forget(copy: Copy): void {
    clearTimeout(copy.linger);
    copy.linger = undefined;
    if (this.#live(copy)) this.#copies.delete(key(copy.room, copy.producerId));
  }

  #lingerLater(copy: Copy): void {
    clearTimeout(copy.linger);
    copy.linger = setTimeout(() => {
      copy.linger = undefined;
      if (copy.consumers > 0 || !this.#live(copy)) return;
      this.#forget(copy);
      this.#options.unused(copy.room, copy.origin, copy.producerId);
    }, this.#options.lingerMs());
    copy.linger.unref();
  }
}
