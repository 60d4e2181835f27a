/**
 * The page's errors, in a place of their own above everything else: one line
 * per thing that failed (camera, joining, watching), in the server's words. A line
 * stays until that action next succeeds or the user dismisses it, so a
 * refusal is never buried under the status line's next message.
 */
import { SignalingError } from './signaling-client.js';
import { WhepError } from './whep.js';

/** What can fail on the page; a new attempt's success clears its own line only. */
export type ErrorSource = 'camera' | 'join' | 'watch';

/** What to try when the server refuses with `code` (PROTOCOL.md's error codes). */
const HINTS: Readonly<Record<string, string>> = {
  limit_exceeded: 'try another room name, or wait for someone to leave',
  over_budget: 'the server is at its limit; try again in a few seconds',
  rate_limited: 'too many requests; try again in a few seconds',
  bad_message: 'check the room name and your name',
  closed: 'is the signaling node running?',
  timeout: 'the server did not answer; try again',
};

/** One line a user can act on: what the server said, its code, and a hint when there is one. */
export function explainError(error: unknown): string {
  if (error instanceof SignalingError) {
    const hint = HINTS[error.code];
    return `${error.reason} (${error.code})${hint === undefined ? '' : ` — ${hint}`}`;
  }
  if (error instanceof WhepError && error.status === 404) {
    return `${error.message} — no such camera; is the RTSP proxy running with it?`;
  }
  return error instanceof Error ? error.message : String(error);
}

export class ErrorArea {
  readonly #area: HTMLElement;
  readonly #list: HTMLElement;
  readonly #lines = new Map<ErrorSource, string>();

  constructor(area: HTMLElement, list: HTMLElement, dismiss: HTMLButtonElement) {
    this.#area = area;
    this.#list = list;
    dismiss.addEventListener('click', () => {
      this.#lines.clear();
      this.#render();
    });
    this.#render();
  }

  /** What is shown, one line per failed action; empty when the area is hidden. */
  get lines(): string[] {
    return [...this.#lines.values()];
  }

  show(source: ErrorSource, text: string): void {
    // Re-inserted so the newest failure is the last line.
    this.#lines.delete(source);
    this.#lines.set(source, text);
    this.#render();
  }

  clear(source: ErrorSource): void {
    if (this.#lines.delete(source)) this.#render();
  }

  #render(): void {
    // Text only: the server's message may quote what a user typed.
    const items = [...this.#lines.values()].map((text) => {
      const item = document.createElement('li');
      item.textContent = text;
      return item;
    });
    this.#list.replaceChildren(...items);
    this.#area.hidden = items.length === 0;
  }
}
