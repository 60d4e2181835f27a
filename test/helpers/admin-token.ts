/**
 * The admin token of a mesh under test: a fresh random token per mesh, handed
 * to its processes as STREAMMESH_ADMIN_TOKEN (so tests never read or create
 * the user's token file), and sent by the test's writes.
 */
import { randomBytes } from 'node:crypto';

export function newAdminToken(): string {
  return randomBytes(24).toString('base64url');
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}
