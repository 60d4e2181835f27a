/**
 * Work put off to the end of the current event-loop turn (the check phase),
 * run once per turn however often it is asked for: what a turn sends is
 * gathered (a send slab's datagrams, a viewer outbox's packets for a media
 * worker) and leaves as one batch. One queue per thread (module state).
 */

/** Something that sends what it gathered this turn. */
export interface TurnEndFlush {
  flushAtTurnEnd(): void;
}

const waiting = new Set<TurnEndFlush>();
let scheduled = false;

function flushWaiting(): void {
  scheduled = false;
  for (const item of waiting) item.flushAtTurnEnd();
  waiting.clear();
}

/** Flushes `item` at the end of this turn, with everything else asked for in it. */
export function flushAtTurnEnd(item: TurnEndFlush): void {
  waiting.add(item);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushWaiting);
  }
}
