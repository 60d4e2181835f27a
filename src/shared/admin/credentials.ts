/**
 * Bearer tokens kept in a private file: the admin token (what a request to a
 * writing or secret-revealing admin route must carry, `Authorization: Bearer
 * <token>`) and the bootstrap token (what a workload shows the control plane
 * to get its first certificate). One class, TokenCredentials, for both: they
 * differ only in their variable, file name and messages (a TokenKind).
 *
 * Where a token comes from, in order: its environment variable
 * (STREAMMESH_ADMIN_TOKEN, STREAMMESH_BOOTSTRAP_TOKEN); else its file
 * (`controlPlane.adminTokenFile` / `controlPlane.bootstrapTokenFile`, default
 * in streammesh's state directory). The control plane creates the file with
 * a random token on its first start (mode 0600, its directory 0700); proxy
 * and signaling nodes on the same machine read the same file (or get the
 * variable), so `streammesh up` needs no setup. A token itself is never
 * logged; only the file's path is.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StreammeshError } from '../errors.js';
import { stateDirectory } from '../state-directory.js';

export const ADMIN_TOKEN_VARIABLE = 'STREAMMESH_ADMIN_TOKEN';
export const BOOTSTRAP_TOKEN_VARIABLE = 'STREAMMESH_BOOTSTRAP_TOKEN';

/** Shorter tokens are refused: a token is a password nobody types. */
const MIN_TOKEN_LENGTH = 16;

type Environment = Readonly<Record<string, string | undefined>>;

export class AdminTokenError extends StreammeshError {
  constructor(message: string) {
    super('ERR_ADMIN_TOKEN', message);
  }
}

export class BootstrapTokenError extends StreammeshError {
  constructor(message: string) {
    super('ERR_BOOTSTRAP_TOKEN', message);
  }
}

/** What tells one kind of token from another. */
export interface TokenKind {
  /** For messages: "admin token". */
  readonly name: string;
  /** With its article: "an admin token". */
  readonly named: string;
  readonly variable: string;
  /** The file's name in the state directory when the config names none. */
  readonly fileName: string;
  readonly error: (message: string) => StreammeshError;
}

export const ADMIN_TOKEN: TokenKind = {
  name: 'admin token',
  named: 'an admin token',
  variable: ADMIN_TOKEN_VARIABLE,
  fileName: 'admin-token',
  error: (message) => new AdminTokenError(message),
};

export const BOOTSTRAP_TOKEN: TokenKind = {
  name: 'bootstrap token',
  named: 'a bootstrap token',
  variable: BOOTSTRAP_TOKEN_VARIABLE,
  fileName: 'bootstrap-token',
  error: (message) => new BootstrapTokenError(message),
};

/**
 * The user's state directory, as the XDG base directory spec defines it:
 * $XDG_STATE_HOME/streammesh/admin-token, else ~/.local/state/streammesh/admin-token.
 */
export function defaultAdminTokenFile(env: Environment = process.env): string {
  return defaultTokenFile(ADMIN_TOKEN, env);
}

/** $XDG_STATE_HOME/streammesh/bootstrap-token, else ~/.local/state/streammesh/bootstrap-token. */
export function defaultBootstrapTokenFile(env: Environment = process.env): string {
  return defaultTokenFile(BOOTSTRAP_TOKEN, env);
}

function defaultTokenFile(kind: TokenKind, env: Environment): string {
  return join(stateDirectory(env), kind.fileName);
}

export interface TokenSource {
  /** The token file; default in the state directory. Relative to the working directory. */
  readonly file?: string | undefined;
  readonly env?: Environment;
}

/** The admin token's source (the name it has always had). */
export type AdminTokenSource = TokenSource;

export class TokenCredentials {
  /** The file the token is read from (undefined when the variable supplies it). */
  readonly file: string | undefined;
  readonly #kind: TokenKind;
  #token: string | undefined;
  #digest: Buffer | undefined;

  protected constructor(kind: TokenKind, token: string | undefined, file: string | undefined) {
    this.#kind = kind;
    this.file = file;
    if (token !== undefined) this.#keep(token);
  }

  /** Whether a token is known now (from the variable, or a file that exists). */
  available(): boolean {
    return this.#load() !== undefined;
  }

  /** Where the token comes from, for a startup line: never the token itself. */
  describe(): string {
    return this.file === undefined ? `$${this.#kind.variable}` : this.file;
  }

  /**
   * Whether an Authorization header carries the token. Compares SHA-256
   * digests in constant time, so neither the token's content nor its length
   * shows in the time taken.
   */
  verify(authorization: string | undefined): boolean {
    if (authorization === undefined) return false;
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    return match?.[1] !== undefined && this.matches(match[1]);
  }

  /** Whether `token` is the token, compared as verify() does. */
  matches(token: string): boolean {
    const expected = this.#load();
    if (expected === undefined || token === '') return false;
    return timingSafeEqual(digest(token), expected);
  }

  /**
   * The token itself, for a client that must present it (a node's first
   * certificate request); undefined while unknown. Never log it.
   */
  token(): string | undefined {
    this.#load();
    return this.#token;
  }

  /**
   * As token(), but read from the file again (when it comes from one): a
   * token someone else rewrites, as kubelet rewrites a projected
   * ServiceAccount token before it expires, is never used past its change.
   * While the file is missing, the token last read. Never log it.
   */
  freshToken(): string | undefined {
    if (this.file !== undefined) {
      const token = readTokenFile(this.#kind, this.file);
      if (token !== undefined) this.#keep(token);
    }
    return this.#token;
  }

  /**
   * Creates the file with a new random token when it does not exist (no
   * file when the variable supplies the token). Throws when the file cannot
   * be written, holds no valid token, or others may read it.
   */
  protected ensureFile(): void {
    const file = this.file;
    if (file === undefined) return;
    if (readTokenFile(this.#kind, file) === undefined) createTokenFile(file);
    if (!this.available()) throw this.#kind.error(`${file}: no ${this.#kind.name} in it`);
  }

  #keep(token: string): void {
    this.#token = token;
    this.#digest = digest(token);
  }

  #load(): Buffer | undefined {
    if (this.#digest === undefined && this.file !== undefined) {
      const token = readTokenFile(this.#kind, this.file);
      if (token !== undefined) this.#keep(token);
    }
    return this.#digest;
  }
}

/** The variable's token (checked), or the resolved file to read it from. */
function sourceOf(
  kind: TokenKind,
  source: TokenSource,
): [token: string | undefined, file: string | undefined] {
  const env = source.env ?? process.env;
  const variable = env[kind.variable];
  if (variable !== undefined && variable !== '') {
    assertTokenShape(kind, variable, kind.variable);
    return [variable, undefined];
  }
  return [undefined, resolve(source.file ?? defaultTokenFile(kind, env))];
}

export class AdminCredentials extends TokenCredentials {
  /** A fixed token (tests, or a caller that resolved it itself). */
  static ofToken(token: string): AdminCredentials {
    assertTokenShape(ADMIN_TOKEN, token, 'the admin token');
    return new AdminCredentials(ADMIN_TOKEN, token, undefined);
  }

  /**
   * A node's credentials: the variable, or the file read when first needed
   * (and again until it exists, since the control plane may create it later).
   */
  static reader(source: TokenSource = {}): AdminCredentials {
    return new AdminCredentials(ADMIN_TOKEN, ...sourceOf(ADMIN_TOKEN, source));
  }

  /**
   * The control plane's credentials: as reader(), but the file is created with
   * a new random token when it does not exist. Throws AdminTokenError when the
   * file cannot be written, holds no valid token, or others may read it.
   */
  static ensure(source: TokenSource = {}): AdminCredentials {
    const credentials = AdminCredentials.reader(source);
    credentials.ensureFile();
    return credentials;
  }
}

/** The bootstrap token: as the admin token, with its own variable and file. */
export class BootstrapCredentials extends TokenCredentials {
  static ofToken(token: string): BootstrapCredentials {
    assertTokenShape(BOOTSTRAP_TOKEN, token, 'the bootstrap token');
    return new BootstrapCredentials(BOOTSTRAP_TOKEN, token, undefined);
  }

  /** A node's: STREAMMESH_BOOTSTRAP_TOKEN, or the file read when first needed. */
  static reader(source: TokenSource = {}): BootstrapCredentials {
    return new BootstrapCredentials(BOOTSTRAP_TOKEN, ...sourceOf(BOOTSTRAP_TOKEN, source));
  }

  /** The control plane's: as reader(), the file created when missing. Throws BootstrapTokenError. */
  static ensure(source: TokenSource = {}): BootstrapCredentials {
    const credentials = BootstrapCredentials.reader(source);
    credentials.ensureFile();
    return credentials;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function assertTokenShape(kind: TokenKind, token: string, where: string): void {
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw kind.error(
      `${where}: ${kind.named} is at least ${MIN_TOKEN_LENGTH} characters with no white space`,
    );
  }
}

/** The token in the file, undefined when there is no file; throws when it is unsafe or malformed. */
function readTokenFile(kind: TokenKind, file: string): string | undefined {
  let text: string;
  try {
    const stat = statSync(file);
    if ((stat.mode & 0o077) !== 0) {
      throw kind.error(
        `${file}: others may read or write the ${kind.name} (mode ${(stat.mode & 0o777).toString(8)}); make it 0600`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const token = text.trim();
  assertTokenShape(kind, token, file);
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
