/**
 * The page's DOM: the forms in index.html, a tile per remote peer (video,
 * audio and display name), the WHEP player, the stats table, the error area
 * and the getting-started box. Peers are shown by display name (their peer
 * id only when they gave none); names from the network only ever go through
 * textContent.
 *
 * A tile plays one video and one audio track: the newest that has media
 * (an unmuted track), else the newest. While the page moves to another node
 * a peer has two of each for a moment (one per connection): the old keeps
 * playing until the new one's media arrives, then the new takes over, so
 * what is seen is at most a held last frame, not a blank tile.
 */
import type { StreamStats } from '../demo-state.js';
import { ErrorArea } from './error-area.js';
import { linkSecondTab, rememberFolding } from './getting-started.js';
import type { RoomView } from './room-connection.js';

interface Tile {
  readonly figure: HTMLElement;
  readonly video: MediaStream;
  readonly audio: MediaStream;
  /** Every track the tile has been given and not yet lost, oldest first. */
  readonly tracks: MediaStreamTrack[];
}

export class DemoUi implements RoomView {
  readonly roomInput = element('room', HTMLInputElement);
  readonly nameInput = element('name', HTMLInputElement);
  readonly joinForm = element('join-form', HTMLFormElement);
  readonly joinButton = element('join', HTMLButtonElement);
  readonly leaveButton = element('leave', HTMLButtonElement);
  readonly cameraInput = element('camera', HTMLInputElement);
  readonly whepForm = element('whep-form', HTMLFormElement);
  readonly watchButton = element('watch', HTMLButtonElement);
  readonly unwatchButton = element('unwatch', HTMLButtonElement);
  readonly errors = new ErrorArea(
    element('errors', HTMLElement),
    element('error-list', HTMLElement),
    element('dismiss-errors', HTMLButtonElement),
  );
  readonly #status = element('status', HTMLElement);
  readonly #tiles = element('tiles', HTMLElement);
  readonly #localVideo = element('local-video', HTMLVideoElement);
  readonly #localCaption = element('local-caption', HTMLElement);
  readonly #cameraVideo = element('camera-video', HTMLVideoElement);
  readonly #cameraCaption = element('camera-caption', HTMLElement);
  readonly #stats = element('stats', HTMLTableSectionElement);
  readonly #peers = new Map<string, Tile>();
  /** What each peer is called on screen, by peer id (the stats table's owners). */
  readonly #labels = new Map<string, string>();
  /** Which tile track each consumer fills. */
  readonly #tracks = new Map<string, MediaStreamTrack>();

  constructor() {
    rememberFolding(element('getting-started', HTMLDetailsElement));
    linkSecondTab(element('second-tab', HTMLAnchorElement), this.roomInput);
  }

  status(text: string): void {
    this.#status.textContent = text;
  }

  setJoined(joined: boolean): void {
    this.joinButton.disabled = joined;
    this.roomInput.disabled = joined;
    this.nameInput.disabled = joined;
    this.leaveButton.disabled = !joined;
  }

  setWatching(watching: boolean): void {
    this.watchButton.disabled = watching;
    this.cameraInput.disabled = watching;
    this.unwatchButton.disabled = !watching;
  }

  /** Our own tile: the camera (null when off) and the name the others see. */
  showLocal(stream: MediaStream | null, displayName: string | null = null): void {
    this.#localVideo.srcObject = stream;
    this.#localCaption.textContent = displayName === null ? 'me' : `${displayName} (me)`;
  }

  showCamera(path: string | null, track: MediaStreamTrack | null): void {
    this.#cameraVideo.srcObject = track === null ? null : new MediaStream([track]);
    this.#cameraCaption.textContent = path === null ? 'no camera' : `camera ${path}`;
  }

  peerJoined(peer: string, displayName: string | null): void {
    if (this.#peers.has(peer)) return;
    const figure = document.createElement('figure');
    figure.className = 'tile';
    figure.dataset['peer'] = peer;
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    const audio = document.createElement('audio');
    audio.autoplay = true;
    const label = displayName ?? peer;
    const caption = document.createElement('figcaption');
    caption.textContent = label;
    // The peer id stays at hand (hover) for matching the server's logs.
    caption.title = peer;
    this.#labels.set(peer, label);
    const tile: Tile = {
      figure,
      video: new MediaStream(),
      audio: new MediaStream(),
      tracks: [],
    };
    video.srcObject = tile.video;
    audio.srcObject = tile.audio;
    figure.append(video, audio, caption);
    this.#tiles.append(figure);
    this.#peers.set(peer, tile);
  }

  peerLeft(peer: string): void {
    this.#peers.get(peer)?.figure.remove();
    this.#peers.delete(peer);
    this.#labels.delete(peer);
  }

  trackAdded(peer: string, consumerId: string, track: MediaStreamTrack): void {
    const tile = this.#peers.get(peer);
    if (tile === undefined) return;
    tile.tracks.push(track);
    this.#tracks.set(consumerId, track);
    this.#play(tile, track.kind);
    // Its media arrived: it may take over from an older track.
    track.addEventListener('unmute', () => {
      this.#play(tile, track.kind);
    });
  }

  trackRemoved(peer: string, consumerId: string): void {
    const track = this.#tracks.get(consumerId);
    this.#tracks.delete(consumerId);
    const tile = this.#peers.get(peer);
    if (track === undefined || tile === undefined) return;
    const index = tile.tracks.indexOf(track);
    if (index >= 0) tile.tracks.splice(index, 1);
    this.#play(tile, track.kind);
  }

  /** Puts the tile's track of `kind` to play: the newest with media, else the newest. */
  #play(tile: Tile, kind: string): void {
    const stream = kind === 'video' ? tile.video : tile.audio;
    const candidates = tile.tracks.filter((track) => track.kind === kind);
    const chosen = candidates.findLast((track) => !track.muted) ?? candidates.at(-1);
    for (const track of stream.getTracks()) if (track !== chosen) stream.removeTrack(track);
    if (chosen !== undefined && !stream.getTracks().includes(chosen)) stream.addTrack(chosen);
  }

  renderStats(stats: readonly StreamStats[]): void {
    const rows = stats.map((stream) => {
      const row = document.createElement('tr');
      const cells = [
        `${stream.direction === 'inbound' ? '⇣' : '⇡'} ${this.#labels.get(stream.owner) ?? stream.owner}`,
        stream.kind,
        `${(stream.bitrateBps / 1000).toFixed(0)} kb/s`,
        `${(stream.lossRatio * 100).toFixed(1)} % (${stream.packetsLost})`,
        stream.jitterMs === null ? '–' : `${stream.jitterMs.toFixed(1)} ms`,
        stream.roundTripTimeMs === null ? '–' : `${stream.roundTripTimeMs.toFixed(1)} ms`,
        stream.frames === null ? '–' : String(stream.frames),
      ];
      for (const text of cells) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    });
    this.#stats.replaceChildren(...rows);
  }
}

/** The element with `id`, checked to be a `type`: a page that lacks one fails at load, loudly. */
function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return found;
}
