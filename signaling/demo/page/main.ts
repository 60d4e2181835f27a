/**
 * The demo page's entry: wires the forms to a Conference (join a room with
 * camera and microphone) and a WhepViewer (watch a camera), samples every
 * stream's stats once a second, puts failures in the error area (cleared
 * when the same action next succeeds), and exposes `window.streammeshDemo`.
 *
 * Query: `room`, `name`, `camera` fill the forms; `video=small` asks the
 * camera for 320x240 at 15 fps (several tabs on one small machine);
 * `statsMs` samples the stats that often (100-5000, default 1000), for a
 * test that measures a freeze finer than a second.
 */
import './style.css';
import {
  DEMO_STATE_GLOBAL,
  type DemoEvent,
  type DemoState,
  type WhepState,
} from '../demo-state.js';
import { Conference } from './conference.js';
import { explainError } from './error-area.js';
import { StatsSampler, type StatsSource } from './stats.js';
import { DemoUi } from './ui.js';
import { WhepViewer } from './whep.js';

const MAX_EVENTS = 100;
const query = new URLSearchParams(location.search);
const STATS_INTERVAL_MS = boundedNumber(query.get('statsMs'), 100, 5_000) ?? 1_000;
const VIDEO: MediaTrackConstraints =
  query.get('video') === 'small'
    ? { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } }
    : { width: { ideal: 640 }, height: { ideal: 360 } };

/** A whole number of the query within min..max, else undefined. */
function boundedNumber(text: string | null, min: number, max: number): number | undefined {
  const value = Number(text ?? Number.NaN);
  return Number.isInteger(value) && value >= min && value <= max ? value : undefined;
}

const ui = new DemoUi();
const sampler = new StatsSampler();
const events: DemoEvent[] = [];
let conference: Conference | undefined;
let local: MediaStream | null = null;
let viewer: WhepViewer | undefined;
let whep: WhepState = 'idle';
/**
 * Bumped by each Join and Leave (and each Watch and Stop): an await that
 * comes back to a newer number was overtaken by the user, and gives back
 * what it got (camera, WHEP session) instead of showing it.
 */
let joins = 0;
let watches = 0;

ui.roomInput.value = query.get('room') ?? ui.roomInput.value;
ui.nameInput.value = query.get('name') ?? guestName();
ui.cameraInput.value = query.get('camera') ?? ui.cameraInput.value;
// As if typed: the second-tab link follows the room field, from the query's room on.
ui.roomInput.dispatchEvent(new Event('input'));

/** A name to start with, so the others never see a bare peer id: guest-1000 .. guest-9999. */
function guestName(): string {
  const [random = 0] = crypto.getRandomValues(new Uint16Array(1));
  return `guest-${1000 + (random % 9000)}`;
}

function record(name: string, peer: string | null): void {
  events.push({ name, peer, at: Date.now() });
  events.splice(0, events.length - MAX_EVENTS);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Camera and microphone; the page still joins (to watch) without them. */
async function localMedia(): Promise<MediaStream | null> {
  try {
    const media = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: VIDEO,
    });
    ui.errors.clear('camera');
    return media;
  } catch (error) {
    ui.errors.show(
      'camera',
      `No camera or microphone (${describe(error)}): you join to watch and listen only`,
    );
    return null;
  }
}

function stopTracks(stream: MediaStream | null): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

async function join(): Promise<void> {
  const attempt = ++joins;
  ui.setJoined(true);
  const media = local ?? (await localMedia());
  if (attempt !== joins) {
    // Left while the browser was asking for the camera: turn it off again.
    stopTracks(media);
    return;
  }
  local = media;
  ui.showLocal(local);
  const name = ui.nameInput.value.trim();
  const room = ui.roomInput.value.trim();
  const started = new Conference({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
    room,
    displayName: name === '' ? undefined : name,
    local: local ?? new MediaStream(),
    view: ui,
    record,
    status: (text) => {
      ui.status(text);
    },
  });
  conference = started;
  try {
    await started.start();
    if (attempt !== joins) return;
    ui.errors.clear('join');
    ui.showLocal(local, started.displayName);
  } catch (error) {
    if (attempt !== joins) return;
    if (conference === started) conference = undefined;
    ui.setJoined(false);
    ui.status('Not in a room.');
    ui.errors.show('join', `Could not join room “${room}”: ${explainError(error)}`);
    record('error', null);
  }
}

function leave(): void {
  joins += 1;
  conference?.stop();
  conference = undefined;
  stopTracks(local);
  local = null;
  ui.showLocal(null);
  ui.setJoined(false);
  ui.status('Not in a room.');
}

async function watch(): Promise<void> {
  const path = ui.cameraInput.value.trim();
  const attempt = ++watches;
  ui.setWatching(true);
  whep = 'connecting';
  try {
    const started = await WhepViewer.start(path, (track) => {
      if (attempt === watches) ui.showCamera(path, track);
    });
    if (attempt !== watches) {
      // Stop was pressed while connecting: end the session the server just made.
      await started.stop();
      return;
    }
    viewer = started;
    whep = 'playing';
    ui.errors.clear('watch');
  } catch (error) {
    if (attempt !== watches) return;
    whep = 'failed';
    ui.setWatching(false);
    ui.errors.show('watch', `Cannot watch camera “${path}”: ${explainError(error)}`);
  }
}

async function unwatch(): Promise<void> {
  watches += 1;
  const stopping = viewer;
  viewer = undefined;
  whep = 'idle';
  ui.showCamera(null, null);
  ui.setWatching(false);
  await stopping?.stop();
}

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void join();
});
ui.leaveButton.addEventListener('click', leave);
ui.whepForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void watch();
});
ui.unwatchButton.addEventListener('click', () => {
  void unwatch();
});
window.addEventListener('pagehide', () => {
  leave();
  void unwatch();
});

let sampling = false;
setInterval(() => {
  if (sampling) return;
  sampling = true;
  const sources: StatsSource[] = [...(conference?.streams() ?? [])];
  if (viewer !== undefined) sources.push(viewer.stats());
  void sampler
    .sample(sources)
    .then((stats) => {
      ui.renderStats(stats);
    })
    .finally(() => {
      sampling = false;
    });
}, STATS_INTERVAL_MS);

const state: DemoState = {
  get joined() {
    return conference?.joined ?? false;
  },
  get room() {
    return conference?.joined === true ? conference.room : null;
  },
  get peer() {
    return conference?.peer ?? null;
  },
  get displayName() {
    return conference?.displayName ?? null;
  },
  get peers() {
    return conference?.peers ?? [];
  },
  get events() {
    return [...events];
  },
  get whep() {
    return viewer?.connectionState === 'failed' ? 'failed' : whep;
  },
  get errors() {
    return ui.errors.lines;
  },
  stats: () => sampler.latest,
};
Object.defineProperty(window, DEMO_STATE_GLOBAL, { value: state });
