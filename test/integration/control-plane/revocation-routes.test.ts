/**
 * POST /certificates/<serial>/revoke on a real admin listener (loopback,
 * port 0): 200 with the entry where the list is kept, 409 saying why and
 * what to do instead where it would be one replica's only (the kubernetes
 * registry: Revocations with notShared), the list left empty.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Revocations } from '../../../src/control-plane/ca/index.js';
import { addRevocationRoutes } from '../../../src/control-plane/revocation-routes.js';
import { formatHostPort } from '../../../src/shared/address.js';
import { AdminCredentials, AdminServer } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';

const SERIAL = '5A0102030405060708090A0B0C0D0E0F';
const NOT_SHARED = 'revocations are not shared between control plane replicas here';

describe('POST /certificates/<serial>/revoke', () => {
  const token = newAdminToken();
  const servers: AdminServer[] = [];
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'revocation-routes-'));
  });

  after(async () => {
    await Promise.all(servers.map(async (server) => server.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** An admin listener with the revocation routes over a list in `dir`/`name`. */
  async function adminWith(name: string, notShared?: string): Promise<string> {
    const metrics = new Registry();
    const admin = new AdminServer({
      listen: { host: '127.0.0.1', port: 0 },
      metrics,
      log: createLogger('test', 'silent'),
      readiness: () => ({ ready: true }),
      credentials: AdminCredentials.ofToken(token),
    });
    servers.push(admin);
    const revocations = new Revocations({
      dir: join(dir, name),
      maxLeafLifetimeMs: 3_600_000,
      notShared,
    });
    addRevocationRoutes(admin, revocations, () => undefined);
    return `http://${formatHostPort(await admin.listen())}`;
  }

  async function revoke(base: string): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${base}/certificates/${SERIAL}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: await response.json() };
  }

  async function listed(base: string): Promise<unknown[]> {
    const response = await fetch(`${base}/certificates/revoked`);
    return ((await response.json()) as { revoked: unknown[] }).revoked;
  }

  it('lists the serial where the list is kept', async () => {
    const base = await adminWith('kept');
    const { status, body } = await revoke(base);
    assert.equal(status, 200);
    assert.equal((body as { serial: string }).serial, SERIAL);
    assert.equal((await listed(base)).length, 1);
  });

  it("answers 409 saying why where the list would be one replica's only, listing nothing", async () => {
    const base = await adminWith('not-shared', NOT_SHARED);
    const { status, body } = await revoke(base);
    assert.equal(status, 409);
    assert.match((body as { error: string }).error, new RegExp(NOT_SHARED));
    assert.deepEqual(await listed(base), []);
  });
});
