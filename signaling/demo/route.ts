/**
 * The demo page as an HttpRoute of the signaling listener: GET / is the
 * page, GET /demo/<file> one of its built assets (scripts/build-demo.mjs
 * writes them to dist/demo-page). The built files are read once into a table
 * and looked up by exact name, so no part of a request path ever reaches the
 * file system: there is nothing to traverse. Asset names carry a content
 * hash, so browsers may keep them for good; the page itself is revalidated.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRoute } from '../server/index.js';

/** Where the page's assets are served. */
export const DEMO_ASSET_PREFIX = '/demo/';
/** Where the build writes the page, seen from this module in dist/signaling/demo/. */
export const DEFAULT_DEMO_DIRECTORY = fileURLToPath(new URL('../../demo-page/', import.meta.url));

const INDEX = 'index.html';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page loads only its own files and talks only to its own origin
 * (WebSocket, WHEP) and to the mesh's other signaling nodes: a join may be
 * moved there (`moved`, `move`, doors: CASCADE.md), and a WHIP/WHEP POST
 * redirected there (a 307 to the room's home), which the browser follows
 * only if the policy lets it connect to the target. The policy is the
 * page's for its life: a node that joins the mesh after the page was loaded
 * is refused by the browser, and the page takes it for unreachable (it tries
 * its other doors; a reload names the new node).
 */
function pagePolicy(peerOrigins: readonly string[]): string {
  return [
    "default-src 'self'",
    ["connect-src 'self'", ...peerOrigins].join(' '),
    "media-src 'self' blob: mediastream:",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The origins of a signaling node's public URL the page may connect to: its
 * http(s) origin (WHIP/WHEP) and its WebSocket one (ws: or wss:); none for a
 * URL that is not http(s). Only origins reach the policy: nothing of a path
 * or a query can break out of its directive.
 */
export function nodeOrigins(url: string): readonly string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return [];
  const secure = parsed.protocol === 'https:';
  return [`${parsed.protocol}//${parsed.host}`, `${secure ? 'wss:' : 'ws:'}//${parsed.host}`];
}

interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

export interface DemoRouteOptions {
  /** The built page (default: dist/demo-page beside the compiled code). */
  readonly directory?: string;
  /** The other signaling nodes' public URLs now (the page may be moved there). */
  readonly peerUrls?: () => readonly string[];
}

export function demoRoute(options: DemoRouteOptions = {}): HttpRoute {
  const directory = options.directory ?? DEFAULT_DEMO_DIRECTORY;
  let files: Promise<ReadonlyMap<string, StaticFile> | undefined> | undefined;
  const built = async (): Promise<ReadonlyMap<string, StaticFile> | undefined> => {
    files ??= loadBuiltPage(directory);
    const loaded = await files;
    // Not built (yet): look again on the next request rather than remember the absence.
    if (loaded === undefined) files = undefined;
    return loaded;
  };
  return {
    prefix: '/',
    async handle(request, response) {
      request.resume();
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response
          .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
          .end('method not allowed\n');
        return;
      }
      const name = fileName((request.url ?? '/').split('?')[0] ?? '/');
      if (name === undefined) {
        notFound(response);
        return;
      }
      const page = await built();
      if (page === undefined) {
        response
          .writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
          .end('the demo page is not built: run npm run build\n');
        return;
      }
      const file = page.get(name);
      if (file === undefined) {
        notFound(response);
        return;
      }
      const peers = (options.peerUrls?.() ?? []).flatMap(nodeOrigins);
      send(request, response, file, name === INDEX ? pagePolicy([...new Set(peers)]) : undefined);
    },
  };
}

/** The built file a request path names: "/" is the page, "/demo/<name>" an asset (no subfolders). */
function fileName(path: string): string | undefined {
  if (path === '/') return INDEX;
  if (!path.startsWith(DEMO_ASSET_PREFIX)) return undefined;
  const name = path.slice(DEMO_ASSET_PREFIX.length);
  return name === INDEX || name.includes('/') ? undefined : name;
}

/** `policy`: the page's content security policy; undefined for an asset. */
function send(
  request: IncomingMessage,
  response: ServerResponse,
  file: StaticFile,
  policy: string | undefined,
): void {
  const isPage = policy !== undefined;
  const headers: Record<string, string> = {
    etag: file.etag,
    'cache-control': isPage ? 'no-cache' : 'public, max-age=31536000, immutable',
    'x-content-type-options': 'nosniff',
    ...(isPage ? { 'content-security-policy': policy, 'referrer-policy': 'no-referrer' } : {}),
  };
  if (request.headers['if-none-match'] === file.etag) {
    response.writeHead(304, headers).end();
    return;
  }
  response.writeHead(200, {
    ...headers,
    'content-type': file.contentType,
    'content-length': String(file.body.length),
  });
  response.end(request.method === 'HEAD' ? undefined : file.body);
}

function notFound(response: ServerResponse): void {
  response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
}

/** Every servable file of the built page by name; undefined when there is no built page. */
async function loadBuiltPage(
  directory: string,
): Promise<ReadonlyMap<string, StaticFile> | undefined> {
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const files = new Map<string, StaticFile>();
  for (const entry of entries) {
    const contentType = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || contentType === undefined) continue;
    let body: Buffer;
    try {
      body = await readFile(join(directory, entry.name));
    } catch {
      // A build is rewriting the directory: look again on the next request.
      return undefined;
    }
    const digest = createHash('sha256').update(body).digest('base64url').slice(0, 22);
    files.set(entry.name, { body, contentType, etag: `"${digest}"` });
  }
  return files.has(INDEX) ? files : undefined;
}
