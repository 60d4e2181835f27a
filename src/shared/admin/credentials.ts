/**
 * The admin bearer token: what a request to a writing or secret-revealing
 * admin route must carry (`Authorization: Bearer <token>`).
 *
 * Where it comes from, in order: the STREAMMESH_ADMIN_TOKEN environment
 * variable; else the token file (`controlPlane.adminTokenFile`, default
 * defaultAdminTokenFile()). The control plane creates the file with a random
 * token on its first start (mode 0600, its directory 0700); proxy and
 * signaling nodes on the same machine read the same file (or get the
 * variable), so `streammesh up` needs no setup. The token itself is never
 * logged; only the file's path is.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StreammeshError } from '../errors.js';
import { stateDirectory } from '../state-directory.js';

export const ADMIN_TOKEN_VARIABLE = 'STREAMMESH_ADMIN_TOKEN';

/** Shorter tokens are refused: a token is a password nobody types. */
const MIN_TOKEN_LENGTH = 16;

type Environment = Readonly<Record<string, string | undefined>>;

export class AdminTokenError extends StreammeshError {
  constructor(message: string) {
    super('ERR_ADMIN_TOKEN', message);
  }
}

/**
 * The user's state directory, as the XDG base directory spec defines it:
 * $XDG_STATE_HOME/streammesh/admin-token, else ~/.local/state/streammesh/admin-token.
 */
export function defaultAdminTokenFile(env: Environment = process.env): string {
  return join(stateDirectory(env), 'admin-token');
}

export interface AdminTokenSource {
  /** The token file; default defaultAdminTokenFile(). Relative to the working directory. */
  readonly file?: string | undefined;
  readonly env?: Environment;
}

export class AdminCredentials {
  /** The file the token is read from (undefined when the variable supplies it). */
  readonly file: string | undefined;
  #digest: Buffer | undefined;

  private constructor(token: string | undefined, file: string | undefined) {
    this.file = file;
    if (token !== undefined) this.#digest = digest(token);
  }

  /** A fixed token (tests, or a caller that resolved it itself). */
  static ofToken(token: string): AdminCredentials {
    assertTokenShape(token, 'the admin token');
    return new AdminCredentials(token, undefined);
  }

  /**
   * A node's credentials: the variable, or the file read when first needed
   * (and again until it exists, since the control plane may create it later).
   */
  static reader(source: AdminTokenSource = {}): AdminCredentials {
    const env = source.env ?? process.env;
    const variable = env[ADMIN_TOKEN_VARIABLE];
    if (variable !== undefined && variable !== '') {
      assertTokenShape(variable, ADMIN_TOKEN_VARIABLE);
      return new AdminCredentials(variable, undefined);
    }
    return new AdminCredentials(undefined, resolve(source.file ?? defaultAdminTokenFile(env)));
  }

  /**
   * The control plane's credentials: as reader(), but the file is created with
   * a new random token when it does not exist. Throws AdminTokenError when the
   * file cannot be written, holds no valid token, or others may read it.
   */
  static ensure(source: AdminTokenSource = {}): AdminCredentials {
    const credentials = AdminCredentials.reader(source);
    const file = credentials.file;
    if (file === undefined) return credentials;
    if (readTokenFile(file) === undefined) createTokenFile(file);
    if (!credentials.available()) throw new AdminTokenError(`${file}: no admin token in it`);
    return credentials;
  }

  /** Whether a token is known now (from the variable, or a file that exists). */
  available(): boolean {
    return this.#load() !== undefined;
  }

  /** Where the token comes from, for a startup line: never the token itself. */
  describe(): string {
    return this.file === undefined ? `$${ADMIN_TOKEN_VARIABLE}` : this.file;
  }

  /**
   * Whether an Authorization header carries the token. Compares SHA-256
   * digests in constant time, so neither the token's content nor its length
   * shows in the time taken.
   */
  verify(authorization: string | undefined): boolean {
    const expected = this.#load();
    if (expected === undefined || authorization === undefined) return false;
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (match?.[1] === undefined) return false;
    return timingSafeEqual(digest(match[1]), expected);
  }

  #load(): Buffer | undefined {
    if (this.#digest === undefined && this.file !== undefined) {
      const token = readTokenFile(this.file);
      if (token !== undefined) this.#digest = digest(token);
    }
    return this.#digest;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function assertTokenShape(token: string, where: string): void {
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new AdminTokenError(
      `${where}: an admin token is at least ${MIN_TOKEN_LENGTH} characters with no white space`,
    );
  }
}

/** The token in the file, undefined when there is no file; throws when it is unsafe or malformed. */
function readTokenFile(file: string): string | undefined {
  let text: string;
  try {
    const stat = statSync(file);
    if ((stat.mode & 0o077) !== 0) {
      throw new AdminTokenError(
        `${file}: others may read or write the admin token (mode ${(stat.mode & 0o777).toString(8)}); make it 0600`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const token = text.trim();
  assertTokenShape(token, file);
  return token;
}

/**
 * Writes a new token to a private temporary file and links it into place:
 * readers never see a half-written file, and when two control planes start
 * at once the first link wins and the other keeps the winner's token.
 */
function createTokenFile(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, `${randomBytes(32).toString('base64url')}\n`, {
    mode: 0o600,
    flag: 'wx',
  });
  try {
    linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
}
