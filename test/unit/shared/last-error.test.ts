/** LastErrorRecord: the one shape of lastError in /streams and /nodes, on an injected clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LastErrorRecord } from '../../../src/shared/last-error.js';

describe('LastErrorRecord', () => {
  const clock = { ms: Date.UTC(2026, 11, 4, 12, 0, 0), now: (): number => clock.ms };

  it('is null until a failure, then keeps message, code and time', () => {
    const record = new LastErrorRecord(clock);
    assert.equal(record.value, null);
    record.succeeded();
    assert.equal(record.value, null, 'a success alone records nothing');
    record.failed('camera refused the credentials (401)', 'ERR_CAMERA_AUTH');
    assert.deepEqual(record.value, {
      message: 'camera refused the credentials (401)',
      code: 'ERR_CAMERA_AUTH',
      at: '2026-12-04T12:00:00.000Z',
      resolvedAt: null,
    });
    assert.equal(record.current, true);
  });

  it('a later success marks it resolved once and keeps it; a new failure makes it current again', () => {
    const record = new LastErrorRecord(clock);
    record.failed('connection refused');
    clock.ms += 1000;
    record.succeeded();
    clock.ms += 1000;
    record.succeeded();
    assert.deepEqual(record.value, {
      message: 'connection refused',
      code: null,
      at: '2026-12-04T12:00:00.000Z',
      resolvedAt: '2026-12-04T12:00:01.000Z',
    });
    assert.equal(record.current, false);
    record.failed('connection refused');
    assert.deepEqual(record.value, {
      message: 'connection refused',
      code: null,
      at: '2026-12-04T12:00:02.000Z',
      resolvedAt: null,
    });
  });
});
