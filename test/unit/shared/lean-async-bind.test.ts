/**
 * leanBind (src/shared/lean-async-bind.ts) against the runtime's own
 * AsyncResource.prototype.bind: the same behaviour to callers (async scope,
 * `this`, arguments, length, the deprecated accessor, the error for a
 * non-function), with one accessor for every bound function rather than
 * one made per call; and useLeanAsyncBind puts it in place only where the
 * runtime's bind makes them per call.
 */
import assert from 'node:assert/strict';
import { AsyncResource, executionAsyncId, triggerAsyncId } from 'node:async_hooks';
import { describe, it } from 'node:test';
import {
  asyncResourceGetter,
  bindMakesAccessorsPerCall,
  currentBind,
  leanBind,
  useLeanAsyncBind,
} from '../../../src/shared/lean-async-bind.js';

/** The runtime's bind, taken before any test puts leanBind in its place. */
const runtimeBind = currentBind();
const binds = { runtime: runtimeBind, lean: leanBind } as const;

interface Seen {
  readonly self: unknown;
  readonly args: unknown[];
  readonly executionId: number;
  readonly triggerId: number;
}

function observer(): (this: unknown, ...args: unknown[]) => Seen {
  return function (this: unknown, ...args: unknown[]): Seen {
    return { self: this, args, executionId: executionAsyncId(), triggerId: triggerAsyncId() };
  };
}

describe('leanBind', () => {
  // First: the warning is given once per process, and later tests read the accessor.
  it('warns DEP0172 once when the accessor is read', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const resource = new AsyncResource('streammesh.test');
      const bound = leanBind.call(resource, () => 1) as unknown as { asyncResource: unknown };
      assert.equal(bound.asyncResource, resource);
      assert.equal(bound.asyncResource, resource);
      await new Promise((resolve) => setImmediate(resolve));
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'DEP0172');
      assert.equal(ours.length, 1);
      assert.equal(ours[0]?.name, 'DeprecationWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  for (const [name, bind] of Object.entries(binds)) {
    it(`${name}: runs fn in the resource's scope with the caller's this and arguments`, () => {
      const resource = new AsyncResource('streammesh.test', { triggerAsyncId: 1 });
      const bound = bind.call(resource, observer()) as (this: unknown, ...args: unknown[]) => Seen;
      const receiver = { name: 'receiver' };
      const seen = bound.call(receiver, 1, 'two');
      assert.equal(seen.self, receiver);
      assert.deepEqual(seen.args, [1, 'two']);
      assert.equal(seen.executionId, resource.asyncId());
      assert.equal(seen.triggerId, 1);
    });

    it(`${name}: with thisArg, fn's this is thisArg whatever the call's`, () => {
      const resource = new AsyncResource('streammesh.test');
      const target = { name: 'target' };
      const bound = bind.call(resource, observer(), target) as (
        this: unknown,
        ...args: unknown[]
      ) => Seen;
      const seen = bound.call({ name: 'other' }, 3);
      assert.equal(seen.self, target);
      assert.deepEqual(seen.args, [3]);
      assert.equal(seen.executionId, resource.asyncId());
    });
  }

  it('gives the bound function the same length, keys and accessor as the runtime does', () => {
    const resource = new AsyncResource('streammesh.test');
    const fn = (_a: unknown, _b: unknown, _c: unknown): undefined => undefined;
    for (const thisArg of [undefined, {}]) {
      const runtime = runtimeBind.call(resource, fn, thisArg);
      const lean = leanBind.call(resource, fn, thisArg);
      assert.equal(lean.length, runtime.length);
      assert.equal(lean.length, 3);
      const leanAccessor = Object.getOwnPropertyDescriptor(lean, 'asyncResource');
      const runtimeAccessor = Object.getOwnPropertyDescriptor(runtime, 'asyncResource');
      // A node that has dropped the deprecated accessor has nothing to compare it with.
      if (runtimeAccessor !== undefined) {
        assert.deepEqual(Object.keys(lean), Object.keys(runtime));
        assert.equal(leanAccessor?.enumerable, runtimeAccessor.enumerable);
        assert.equal(leanAccessor?.configurable, runtimeAccessor.configurable);
      }
      const accessible = lean as unknown as { asyncResource: unknown };
      assert.equal(accessible.asyncResource, resource);
      accessible.asyncResource = 'replaced';
      assert.equal(accessible.asyncResource, 'replaced');
    }
  });

  it('refuses a non-function with the runtime error code and message', () => {
    const resource = new AsyncResource('streammesh.test');
    for (const value of [undefined, null, 1, 'text', {}]) {
      const codeOf = (bind: typeof leanBind): unknown => {
        try {
          bind.call(resource, value as never);
        } catch (error) {
          assert.ok(error instanceof TypeError);
          return `${(error as { code?: string }).code ?? ''}: ${error.message}`;
        }
        return 'no error';
      };
      assert.match(codeOf(leanBind) as string, /^ERR_INVALID_ARG_TYPE: The "fn" argument/);
      assert.equal(codeOf(leanBind), codeOf(runtimeBind));
    }
  });

  it('makes one accessor for every bound function', () => {
    assert.equal(bindMakesAccessorsPerCall(leanBind), false);
    const resource = new AsyncResource('streammesh.test');
    const first = asyncResourceGetter(leanBind.call(resource, () => 1));
    assert.equal(typeof first, 'function');
    assert.equal(asyncResourceGetter(leanBind.call(resource, () => 2)), first);
  });
});

describe('useLeanAsyncBind', () => {
  it('replaces the runtime bind only where it makes accessors per call, once', () => {
    const perCall = bindMakesAccessorsPerCall(runtimeBind);
    try {
      assert.equal(useLeanAsyncBind(), perCall);
      assert.equal(currentBind(), perCall ? leanBind : runtimeBind);
      assert.equal(useLeanAsyncBind(), perCall);
      assert.equal(currentBind(), perCall ? leanBind : runtimeBind);
    } finally {
      Reflect.set(AsyncResource.prototype, 'bind', runtimeBind);
    }
  });
});
