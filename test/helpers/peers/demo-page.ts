/**
 * The demo page (signaling/demo) in headless Chromium: opened from a
 * signaling listener like a user would, driven through its forms, and read
 * through `window.streammeshDemo` rather than the DOM.
 */
import type { Page } from 'puppeteer-core';
import {
  DEMO_STATE_GLOBAL,
  type DemoState,
  type StreamStats,
} from '../../../signaling/demo/index.js';
import type { ChromiumPeer } from './chromium.js';

/** DemoState as plain data, copied out of the page. */
export type DemoSnapshot = Omit<DemoState, 'stats'> & { readonly stats: readonly StreamStats[] };

export interface DemoPage {
  readonly page: Page;
  /** Uncaught errors and console errors/warnings of the page, for failure messages. */
  readonly problems: readonly string[];
}

/** Opens `url` (the signaling listener's `/`, with a query) in a new tab of `chromium`. */
export async function openDemoPage(chromium: ChromiumPeer, url: string): Promise<DemoPage> {
  const page = await chromium.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => {
    problems.push(`pageerror: ${String(error)}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') {
      problems.push(`${message.type()}: ${message.text()}`);
    }
  });
  const response = await page.goto(url);
  // 304: the same browser opened the page before and revalidated its copy.
  const status = response?.status();
  if (status !== 200 && status !== 304) throw new Error(`GET ${url}: ${status}`);
  await page.waitForFunction((name) => name in globalThis, {}, DEMO_STATE_GLOBAL);
  return { page, problems };
}

/**
 * Chromium flags for several demo tabs in one browser: a background tab keeps
 * its timers, rendering and media going as if it were in front.
 */
export const DEMO_CHROMIUM_ARGS: readonly string[] = [
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/**
 * Clicks the page's Join button as a user would. The tab comes to the front
 * first: input events to a background tab are never dispatched.
 */
export async function clickJoin(demo: DemoPage): Promise<void> {
  await demo.page.bringToFront();
  await demo.page.click('#join');
}

/**
 * Sets a form field of the page as if typed, bypassing `maxlength`: what a
 * hostile or buggy client could send, which only the server can refuse.
 */
export async function fillInput(demo: DemoPage, id: string, value: string): Promise<void> {
  await demo.page.evaluate(
    (fieldId, text) => {
      interface Field {
        value: string;
        dispatchEvent(event: unknown): boolean;
      }
      const scope = globalThis as unknown as {
        document: { getElementById(id: string): Field | null };
        Event: new (type: string) => unknown;
      };
      const field = scope.document.getElementById(fieldId);
      if (field === null) throw new Error(`no #${fieldId} in the page`);
      field.value = text;
      field.dispatchEvent(new scope.Event('input'));
    },
    id,
    value,
  );
}

export async function demoSnapshot(page: Page): Promise<DemoSnapshot> {
  return page.evaluate((name) => {
    const state = (globalThis as unknown as Record<string, DemoState>)[name];
    if (state === undefined) throw new Error(`no ${name} in the page`);
    return {
      joined: state.joined,
      room: state.room,
      peer: state.peer,
      displayName: state.displayName,
      peers: state.peers,
      events: state.events,
      whep: state.whep,
      errors: state.errors,
      stats: state.stats(),
    };
  }, DEMO_STATE_GLOBAL);
}

/**
 * Polls the page's state until `ready` holds, for at most `timeoutMs`; the
 * error names `what` and shows the last state and the page's problems.
 */
export async function waitForDemo(
  demo: DemoPage,
  what: string,
  ready: (snapshot: DemoSnapshot) => boolean,
  timeoutMs = 15_000,
): Promise<DemoSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = await demoSnapshot(demo.page);
    if (ready(snapshot)) return snapshot;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting until ${what}: ${JSON.stringify(snapshot)}\n${demo.problems.join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The inbound video stream of `owner` in a snapshot, if any. */
export function inboundVideo(snapshot: DemoSnapshot, owner: string): StreamStats | undefined {
  return snapshot.stats.find(
    (stream) => stream.direction === 'inbound' && stream.kind === 'video' && stream.owner === owner,
  );
}

/** What the page shows for a remote peer: its tile's caption and the video's decoded width. */
export interface PeerTile {
  readonly caption: string | null;
  readonly videoWidth: number;
}

/** The minimum of the DOM the lookups use (the tests compile without DOM types). */
interface TileNode {
  readonly textContent: string | null;
  readonly videoWidth?: number;
  readonly hidden?: boolean;
  readonly title?: string;
  querySelector(selector: string): TileNode | null;
  querySelectorAll(selector: string): Iterable<TileNode>;
}

/** The tile of `peer` in the page, or null when the page shows none. */
export async function peerTile(page: Page, peer: string): Promise<PeerTile | null> {
  return page.evaluate((name) => {
    const document = (globalThis as unknown as { document: TileNode }).document;
    const figure = document.querySelector(`[data-peer="${name}"]`);
    if (figure === null) return null;
    return {
      caption: figure.querySelector('figcaption')?.textContent ?? null,
      videoWidth: figure.querySelector('video')?.videoWidth ?? 0,
    };
  }, peer);
}

/** What the page's error area shows: whether it is visible, and its lines' text. */
export interface ErrorAreaView {
  readonly visible: boolean;
  readonly lines: readonly string[];
}

export async function errorArea(page: Page): Promise<ErrorAreaView> {
  return page.evaluate(() => {
    const document = (globalThis as unknown as { document: TileNode }).document;
    const area = document.querySelector('#errors');
    return {
      visible: area !== null && area.hidden !== true,
      lines: [...(area?.querySelectorAll('li') ?? [])].map((item) => item.textContent ?? ''),
    };
  });
}

/** The stream column of the stats table, row by row (arrow, then whose stream). */
export async function statsOwners(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const document = (globalThis as unknown as { document: TileNode }).document;
    return [...document.querySelectorAll('#stats tr td:first-child')].map(
      (cell) => cell.textContent ?? '',
    );
  });
}

/** The text of the first element matching `selector` (e.g. `#status`), null when none does. */
export async function textOf(page: Page, selector: string): Promise<string | null> {
  return page.evaluate((query) => {
    const document = (globalThis as unknown as { document: TileNode }).document;
    return document.querySelector(query)?.textContent ?? null;
  }, selector);
}

/** The caption of this page's own tile. */
export async function localCaption(page: Page): Promise<string | null> {
  return textOf(page, '#local-caption');
}
