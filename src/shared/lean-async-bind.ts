/**
 * AsyncResource.prototype.bind without what makes node 20's HTTP/2 client
 * keep every request's stream through scavenges.
 *
 * ClientHttp2Session.request() binds each request's start to an
 * AsyncResource. node 20's bind gives every bound function a deprecated
 * `asyncResource` accessor (DEP0172) of its own: two util.deprecate
 * wrappers, each made the prototype-child of a fresh closure. Those
 * closures share their context with the bound request, and young-generation
 * collections keep them alive: the request's stream, its listeners and what
 * they close over survive every scavenge and are promoted, to be freed only
 * by a full collection (why V8 keeps them was not pinned down; accessors
 * made per call without the prototype change kept about half as much).
 * Measured with one request at a time (h2-upstream-garbage.test.ts): about
 * 5 KB a request kept until a full collection, 0.8 KB with leanBind. At
 * 1,000 HTTP/2 requests/s through a bare `node:http2` proxy: scavenges of
 * 4-6 ms and a mark-compact every 1-2 s, p99 4.5-6.7 ms; with leanBind
 * 0.5-0.9 ms scavenges, p99 1.2-1.8 ms, and 20-26% less CPU a request at
 * the maximum (README, "What kept HTTP/2's garbage alive"). node tracks the
 * cost of these wrappers as nodejs/node#58218.
 *
 * leanBind keeps the accessor, with one getter and setter shared by every
 * bound function. It replaces the method for the calling thread's isolate
 * only (a worker thread has its own), and only where the runtime's bind
 * makes accessors per call.
 */
import { AsyncResource } from 'node:async_hooks';
import { inspect } from 'node:util';

const DEPRECATION = 'The asyncResource property on bound functions is deprecated';
/** Where a bound function keeps what its `asyncResource` accessor returns. */
const REPORTED_RESOURCE = Symbol('streammesh.asyncResource');
let warned = false;

interface Bound {
  [REPORTED_RESOURCE]: unknown;
}

function warnDeprecated(): void {
  if (warned) return;
  warned = true;
  process.emitWarning(DEPRECATION, 'DeprecationWarning', 'DEP0172');
}

/**
 * One accessor pair for every bound function: closures made per call, even
 * without util.deprecate, kept 2.7 KB a request through scavenges.
 */
const ASYNC_RESOURCE_ACCESSOR: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: Bound): unknown {
    warnDeprecated();
    return this[REPORTED_RESOURCE];
  },
  set(this: Bound, value: unknown): void {
    warnDeprecated();
    this[REPORTED_RESOURCE] = value;
  },
};

/**
 * node's bind, the same to its callers: `fn` runs in the resource's async
 * scope with the bound function's `this` (or `thisArg`), the bound function
 * has `fn`'s length, and a deprecated `asyncResource` accessor.
 */
export function leanBind<F extends (...args: never[]) => unknown>(
  this: AsyncResource,
  fn: F,
  thisArg?: unknown,
): F {
  if (typeof fn !== 'function') {
    throw Object.assign(
      new TypeError(`The "fn" argument must be of type function. Received ${describe(fn)}`),
      { code: 'ERR_INVALID_ARG_TYPE' },
    );
  }
  return boundTo(this, fn as unknown as Callable, thisArg) as unknown as F;
}

type Callable = (this: unknown, ...args: unknown[]) => unknown;

function boundTo(resource: AsyncResource, fn: Callable, thisArg: unknown): Callable {
  const bound =
    thisArg === undefined
      ? function (this: unknown, ...args: unknown[]): unknown {
          return resource.runInAsyncScope(fn, this, ...args);
        }
      : (...args: unknown[]): unknown => resource.runInAsyncScope(fn, thisArg, ...args);
  // One defineProperty each: 0.7-1.1 µs a bind in a micro-benchmark, against
  // 1.1-1.5 µs for one defineProperties with the three (node's own: 8-10 µs).
  Object.defineProperty(bound, 'length', {
    configurable: true,
    enumerable: false,
    value: fn.length,
    writable: false,
  });
  Object.defineProperty(bound, REPORTED_RESOURCE, {
    configurable: true,
    enumerable: false,
    value: resource,
    writable: true,
  });
  Object.defineProperty(bound, 'asyncResource', ASYNC_RESOURCE_ACCESSOR);
  return bound;
}

/** The bind AsyncResource.prototype has in this thread's isolate now. */
export function currentBind(): typeof leanBind {
  return Reflect.get(AsyncResource.prototype, 'bind') as typeof leanBind;
}

/**
 * True when `bind` gives each bound function an `asyncResource` getter of
 * its own (node 20's does): the shape that keeps bound requests alive.
 */
export function bindMakesAccessorsPerCall(bind = currentBind()): boolean {
  const resource = new AsyncResource('streammesh.bind-probe');
  const first = asyncResourceGetter(bind.call(resource, () => undefined));
  return first !== undefined && first !== asyncResourceGetter(bind.call(resource, () => undefined));
}

/** The getter of a bound function's `asyncResource` accessor, if it has one. */
export function asyncResourceGetter(bound: object): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(bound, 'asyncResource');
  return descriptor === undefined ? undefined : Reflect.get(descriptor, 'get');
}

/**
 * Puts leanBind in place of AsyncResource.prototype.bind in this thread's
 * isolate when the runtime's bind makes accessors per call; a second call does
 * nothing. Returns whether leanBind is in place.
 */
export function useLeanAsyncBind(): boolean {
  if (currentBind() === leanBind) return true;
  if (!bindMakesAccessorsPerCall()) return false;
  Reflect.set(AsyncResource.prototype, 'bind', leanBind);
  return true;
}

/** The "Received ..." part of node's ERR_INVALID_ARG_TYPE message. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return 'an instance of Object';
  return `type ${typeof value} (${inspect(value)})`;
}
