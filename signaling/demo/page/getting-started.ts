/**
 * The "getting started" box at the top of the page: open by default for a
 * first visit, folded for good once the user closes it (remembered in
 * localStorage), and a link that opens this page in a second tab with the
 * same room, so trying the call takes two clicks.
 */

const FOLDED_KEY = 'streammesh.demo.gettingStartedFolded';

/** localStorage may be unavailable (a sandboxed frame, privacy settings): then nothing is remembered. */
function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** Folds `box` if the user folded it before, and remembers each toggle. */
export function rememberFolding(box: HTMLDetailsElement): void {
  if (storage()?.getItem(FOLDED_KEY) === '1') box.open = false;
  box.addEventListener('toggle', () => {
    try {
      if (box.open) storage()?.removeItem(FOLDED_KEY);
      else storage()?.setItem(FOLDED_KEY, '1');
    } catch {
      // Storage full or refused: the box just opens again next time.
    }
  });
}

/**
 * Keeps `link` pointing at this page with the room typed in `room`, and
 * without this tab's name, so the second tab gets a guest name of its own.
 */
export function linkSecondTab(link: HTMLAnchorElement, room: HTMLInputElement): void {
  const update = (): void => {
    const url = new URL(location.href);
    url.search = '';
    url.hash = '';
    if (room.value.trim() !== '') url.searchParams.set('room', room.value.trim());
    link.href = url.toString();
  };
  room.addEventListener('input', update);
  update();
}
