/**
 * The HTTP route matcher: each matcher kind, first match wins in config
 * order, listener scoping, and random hostile requests never make it throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileRoutes,
  hostOf,
  type RouteRequest,
} from '../../../rtp-proxy/l7/router/route-match.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { Xorshift32 } from '../../helpers/protocol/rtp-support.js';
import type { z } from 'zod';

type RouteInput = z.input<typeof httpSchema>['routes'] extends (infer R)[] | undefined ? R : never;

/** A validated config whose routes all send to cluster "c". */
function config(routes: Omit<RouteInput, 'action'>[], listeners: string[] = []) {
  return httpSchema.parse({
    listeners: listeners.map((name, index) => ({ name, listen: `127.0.0.1:${15001 + index}` })),
    routes: routes.map((route) => ({ ...route, action: { cluster: 'c' } })),
    clusters: [{ name: 'c', endpoints: ['127.0.0.1:3001'] }],
  });
}

function request(overrides: Partial<RouteRequest> = {}): RouteRequest {
  return { authority: 'users', path: '/', method: 'GET', headers: {}, ...overrides };
}

/** The name of the route chosen for each request, or "none". */
function chosen(
  match: ReturnType<typeof compileRoutes>,
  requests: Partial<RouteRequest>[],
): string[] {
  return requests.map((overrides) => match(request(overrides))?.name ?? 'none');
}

describe('HTTP route matcher', () => {
  it('matches the authority exactly, without regard to case or port', () => {
    const match = compileRoutes(
      config([{ name: 'users', match: { authority: 'Users', path: { prefix: '/' } } }]),
    );
    assert.deepEqual(
      chosen(match, [
        { authority: 'users' },
        { authority: 'USERS:8080' },
        { authority: 'users:' },
        { authority: 'users.svc' },
        { authority: 'xusers' },
        { authority: '' },
      ]),
      ['users', 'users', 'users', 'none', 'none', 'none'],
    );
  });

  it('matches *.suffix authorities on any subdomain but not the bare domain', () => {
    const match = compileRoutes(
      config([{ name: 'wild', match: { authority: '*.example.com', path: { prefix: '/' } } }]),
    );
    assert.deepEqual(
      chosen(match, [
        { authority: 'a.example.com' },
        { authority: 'A.B.Example.COM:443' },
        { authority: 'example.com' },
        { authority: '.example.com' },
        { authority: 'aexample.com' },
      ]),
      ['wild', 'wild', 'none', 'none', 'none'],
    );
  });

  it('takes the host out of bracketed IPv6 authorities', () => {
    assert.equal(hostOf('[::1]:8080'), '[::1]');
    assert.equal(hostOf('[::1]'), '[::1]');
    assert.equal(hostOf('Users:80'), 'users');
  });

  it('matches path prefix, exact and regex, ignoring the query string', () => {
    const match = compileRoutes(
      config([
        { name: 'exact', match: { path: { exact: '/health' } } },
        { name: 'regex', match: { path: { regex: '/users/\\d+' } } },
        { name: 'prefix', match: { path: { prefix: '/api/' } } },
      ]),
    );
    assert.deepEqual(
      chosen(match, [
        { path: '/health' },
        { path: '/health?verbose=1' },
        { path: '/healthz' },
        { path: '/users/42' },
        { path: '/users/42?x=1' },
        { path: '/users/42/posts' },
        { path: '/v1/users/42' },
        { path: '/api/x' },
        { path: '/api' },
        { path: '/x?/api/' },
      ]),
      ['exact', 'exact', 'none', 'regex', 'regex', 'none', 'none', 'prefix', 'none', 'none'],
    );
  });

  it('matches methods exactly (methods are case-sensitive)', () => {
    const match = compileRoutes(
      config([{ name: 'reads', match: { path: { prefix: '/' }, methods: ['GET', 'HEAD'] } }]),
    );
    assert.deepEqual(
      chosen(match, [{ method: 'GET' }, { method: 'HEAD' }, { method: 'POST' }, { method: 'get' }]),
      ['reads', 'reads', 'none', 'none'],
    );
  });

  it('matches headers by exact value, regex and presence; all must hold', () => {
    const match = compileRoutes(
      config([
        {
          name: 'both',
          match: {
            path: { prefix: '/' },
            headers: [
              { name: 'X-Canary', exact: 'yes' },
              { name: 'content-type', regex: 'application/grpc(\\+proto)?' },
            ],
          },
        },
        {
          name: 'traced',
          match: { path: { prefix: '/' }, headers: [{ name: 'x-trace', present: true }] },
        },
        {
          name: 'untraced',
          match: { path: { prefix: '/' }, headers: [{ name: 'x-trace', present: false }] },
        },
      ]),
    );
    assert.deepEqual(
      chosen(match, [
        { headers: { 'x-canary': 'yes', 'content-type': 'application/grpc' } },
        { headers: { 'x-canary': 'yes', 'content-type': 'application/grpc+proto' } },
        // The regex must match the whole value.
        { headers: { 'x-canary': 'yes', 'content-type': 'application/grpc-web' } },
        { headers: { 'x-canary': 'YES', 'content-type': 'application/grpc', 'x-trace': '' } },
        { headers: { 'x-canary': 'yes' } },
        { headers: {} },
      ]),
      ['both', 'both', 'untraced', 'traced', 'untraced', 'untraced'],
    );
  });

  it('matches repeated headers as their values joined by ","', () => {
    const match = compileRoutes(
      config([
        {
          name: 'joined',
          match: { path: { prefix: '/' }, headers: [{ name: 'x-tag', exact: 'a,b' }] },
        },
      ]),
    );
    assert.deepEqual(
      chosen(match, [{ headers: { 'x-tag': ['a', 'b'] } }, { headers: { 'x-tag': ['a'] } }]),
      ['joined', 'none'],
    );
  });

  it('picks the first matching route in config order', () => {
    const routes = [
      { name: 'broad', match: { path: { prefix: '/' } } },
      { name: 'narrow', match: { path: { exact: '/users' } } },
    ];
    assert.equal(compileRoutes(config(routes))(request({ path: '/users' }))?.name, 'broad');
    const reversed = compileRoutes(config([...routes].reverse()));
    assert.equal(reversed(request({ path: '/users' }))?.name, 'narrow');
    assert.equal(reversed(request({ path: '/other' }))?.name, 'broad');
  });

  it('keeps routes of another listener out when compiled for a listener', () => {
    const http = config(
      [
        { name: 'grpc-only', listener: 'grpc', match: { path: { prefix: '/' } } },
        { name: 'anywhere', match: { path: { prefix: '/' } } },
      ],
      ['edge', 'grpc'],
    );
    assert.equal(compileRoutes(http, 'grpc')(request())?.name, 'grpc-only');
    assert.equal(compileRoutes(http, 'edge')(request())?.name, 'anywhere');
    assert.equal(compileRoutes(http)(request())?.name, 'grpc-only');
  });

  it('never throws on random requests and returns one of its routes (property)', () => {
    const http = config([
      { name: 'a', match: { authority: '*.svc', path: { regex: '/(a|b)+/?' } } },
      {
        name: 'b',
        match: {
          path: { exact: '/x' },
          methods: ['POST'],
          headers: [{ name: 'x-h', regex: '.*[:;]' }],
        },
      },
      { name: 'c', match: { authority: 'users', path: { prefix: '/u' } } },
      { name: 'all', match: { path: { prefix: '/' } } },
    ]);
    const match = compileRoutes(http);
    const names = new Set(http.routes.map((route) => route.name));
    // A fixed seed: the last assertion needs every route to be reached.
    const random = new Xorshift32(0x2f6e2b1);
    // Fragments that make matches likely, mixed with bytes no request should carry.
    const fragments = [
      'a',
      'b',
      '/',
      '/u',
      'x',
      '.svc',
      ':',
      '?',
      '[',
      ']',
      '\u0000',
      '\r\n',
      '%2F',
      'é',
      '🙂',
      ' ',
    ];
    const text = (max: number): string => {
      let out = '';
      const length = random.below(max);
      for (let i = 0; i < length; i++) out += random.pick(fragments);
      return out;
    };
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const headers: Record<string, string | string[]> = {};
      if (random.chance(0.5)) headers['x-h'] = random.chance(0.5) ? text(12) : [text(6), text(6)];
      const path = random.chance(0.2) ? '/x' : `${random.chance(0.9) ? '/' : ''}${text(8)}`;
      const route = match({
        authority: random.chance(0.2) ? 'users' : `${text(6)}${random.chance(0.3) ? '.svc' : ''}`,
        path,
        method: random.chance(0.5) ? 'POST' : text(6),
        headers,
      });
      // The catch-all route is last: every path starting with "/" matches something.
      if (path.startsWith('/')) assert.ok(route !== undefined);
      if (route === undefined) continue;
      assert.ok(names.has(route.name));
      seen.add(route.name);
    }
    assert.equal(seen.size, names.size, `only ${[...seen].join(', ')} were chosen`);
  });
});
