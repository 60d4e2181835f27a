/**
 * Reading one sample out of a Prometheus text exposition (a proxy's
 * /metrics), for tests that check a labelled series.
 */

/** The value of the first `name` sample whose labels include every one of `labels`. */
export function metric(
  text: string,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const found = new Map([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) {
      return Number(line.slice(line.indexOf('}') + 1));
    }
  }
  return undefined;
}
