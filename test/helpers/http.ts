import { waitFor } from './process.js';

/** Small JSON-over-HTTP helpers for the admin APIs. */
export interface JsonResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
}

export async function getJson<T = unknown>(url: string): Promise<JsonResponse<T>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as T };
}

/** PUT with a YAML body; `token` is sent as the admin bearer token (PUT /config needs it). */
export async function putText<T = unknown>(
  url: string,
  text: string,
  token?: string,
): Promise<JsonResponse<T>> {
  const response = await fetch(url, {
    method: 'PUT',
    body: text,
    headers: {
      'content-type': 'application/yaml',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, body: (await response.json()) as T };
}

export async function getText(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, text: await response.text() };
}

/** GET that resolves undefined instead of throwing while a server is down. */
export async function tryGetJson<T = unknown>(url: string): Promise<JsonResponse<T> | undefined> {
  try {
    return await getJson<T>(url);
  } catch {
    return undefined;
  }
}

/** Waits until `url`/readyz answers 200. */
export async function waitReady(
  url: string,
  output: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    async () => ((await tryGetJson(`${url}/readyz`))?.status === 200 ? true : undefined),
    timeoutMs,
    () => `${url} ready:\n${output()}`,
  );
}
