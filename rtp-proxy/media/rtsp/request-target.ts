/**
 * Which path and track a request URL names. Path names may contain "/", so
 * the longest configured path that prefixes the URL's segments wins and the
 * rest is the track's control part: `rtsp://h:8554/cams/door/trackID=1` is
 * path "cams/door", control "trackID=1".
 */
export interface RequestTarget {
  readonly pathName: string;
  /** What follows the path ('' for the aggregate URL). */
  readonly control: string;
  /** The URL viewers resolve control URLs against: no credentials, no query, trailing "/". */
  readonly base: string;
}

/** Percent-decoding that never throws. */
function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function requestTarget(
  url: string,
  isPath: (name: string) => boolean,
): RequestTarget | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'rtsp:' && parsed.protocol !== 'rtsps:') return undefined;
  const segments: string[] = [];
  for (const raw of parsed.pathname.split('/')) {
    if (raw === '') continue;
    const segment = decode(raw);
    if (segment === undefined) return undefined;
    segments.push(segment);
  }
  for (let length = segments.length; length > 0; length -= 1) {
    const pathName = segments.slice(0, length).join('/');
    if (!isPath(pathName)) continue;
    const origin = `${parsed.protocol}//${parsed.host}`;
    return {
      pathName,
      control: segments.slice(length).join('/'),
      base: `${origin}/${segments.slice(0, length).map(encodeURIComponent).join('/')}/`,
    };
  }
  return undefined;
}

/** Our control names for viewers: `trackID=<index>`. */
export function viewerTrack(control: string, trackCount: number): number | undefined {
  if (control === '') return trackCount === 1 ? 0 : undefined;
  const match = /^trackID=(\d{1,3})$/.exec(control);
  if (match === null) return undefined;
  const index = Number(match[1]);
  return index < trackCount ? index : undefined;
}

/** A publisher's control names are its own, from the SDP it announced. */
export function announcedTrack(
  control: string,
  controls: readonly (string | undefined)[],
): number | undefined {
  if (control === '') return controls.length === 1 ? 0 : undefined;
  const index = controls.findIndex(
    (c) => c !== undefined && (c === control || c.endsWith(`/${control}`)),
  );
  return index === -1 ? undefined : index;
}
