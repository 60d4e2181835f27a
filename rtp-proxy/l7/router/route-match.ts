/**
 * Picks the route for an HTTP request: the first route, in config order,
 * whose authority, path, method and header matchers all hold. Routes are
 * compiled once per config so that a request costs only the comparisons.
 * Never throws on any request: hostile input simply matches nothing.
 */
import type { HttpConfig, HttpRouteConfig } from '../../../src/config/index.js';

/** Header names in lower case, as node:http and node:http2 deliver them. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface RouteRequest {
  /** Host (HTTP/1.1) or :authority (HTTP/2), possibly with a port. */
  readonly authority: string;
  /** Request target (:path), possibly with a query string. */
  readonly path: string;
  readonly method: string;
  readonly headers: RequestHeaders;
}

export type RouteMatcher = (request: RouteRequest) => HttpRouteConfig | undefined;

type Test = (request: RouteRequest) => boolean;

/** Routes naming another listener are left out when `listener` is given. */
export function compileRoutes(config: HttpConfig, listener?: string): RouteMatcher {
  const compiled = config.routes
    .filter(
      (route) =>
        listener === undefined || route.listener === undefined || route.listener === listener,
    )
    .map((route) => ({ route, tests: compileTests(route) }));
  return (request) => compiled.find(({ tests }) => tests.every((test) => test(request)))?.route;
}

function compileTests(route: HttpRouteConfig): Test[] {
  const { match } = route;
  const tests: Test[] = [];
  if (match.authority !== undefined) tests.push(authorityTest(match.authority));
  tests.push(pathTest(match.path));
  if (match.methods !== undefined) {
    const methods = new Set(match.methods);
    tests.push((request) => methods.has(request.method));
  }
  for (const header of match.headers ?? []) tests.push(headerTest(header));
  return tests;
}

function authorityTest(pattern: string): Test {
  const wanted = pattern.toLowerCase();
  if (wanted.startsWith('*.')) {
    const suffix = wanted.slice(1);
    // "*.example.com" needs at least one character before ".example.com".
    return (request) => {
      const host = hostOf(request.authority);
      return host.length > suffix.length && host.endsWith(suffix);
    };
  }
  return (request) => hostOf(request.authority) === wanted;
}

/** The host of an authority, in lower case, without its port. */
export function hostOf(authority: string): string {
  const host = authority.startsWith('[')
    ? authority.slice(0, authority.indexOf(']') + 1)
    : authority.replace(/:\d*$/, '');
  return host.toLowerCase();
}

function pathTest(path: HttpRouteConfig['match']['path']): Test {
  const { prefix, exact, regex } = path;
  if (exact !== undefined) return (request) => pathOf(request.path) === exact;
  if (regex !== undefined) {
    const whole = wholeMatch(regex);
    return (request) => whole.test(pathOf(request.path));
  }
  const start = prefix ?? '/';
  return (request) => pathOf(request.path).startsWith(start);
}

/** The path without its query string; matchers never see the query. */
function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

function headerTest(header: NonNullable<HttpRouteConfig['match']['headers']>[number]): Test {
  const name = header.name.toLowerCase();
  const { exact, regex, present } = header;
  const valueOf = (request: RouteRequest): string | undefined => {
    const value = request.headers[name];
    return typeof value === 'string' || value === undefined ? value : value.join(',');
  };
  if (present !== undefined) return (request) => (valueOf(request) !== undefined) === present;
  if (regex !== undefined) {
    const whole = wholeMatch(regex);
    return (request) => {
      const value = valueOf(request);
      return value !== undefined && whole.test(value);
    };
  }
  return (request) => valueOf(request) === exact;
}

/** The config's regex must match the whole value, as Envoy's safe_regex does. */
function wholeMatch(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}
