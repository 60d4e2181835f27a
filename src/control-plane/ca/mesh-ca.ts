/**
 * The mesh CA: signs workload certificates whose only name is a SPIFFE ID
 * of its trust domain, and publishes the trust bundle workloads verify
 * each other with.
 *
 * The CA decides every name in a certificate: from a CSR it takes only the
 * public key, after checking the CSR's signature (proof that the requester
 * holds the key). The caller — later, the gRPC service that authenticated
 * the workload — says which SPIFFE ID it is owed.
 *
 * Rotation: rotate() makes a new root the issuer and keeps the old one in
 * the bundle, so leaves of both verify while workloads renew; retire()
 * drops the old roots once every leaf they signed has been renewed. Only a
 * CA kept in a directory rotates: an operator's root (files) and a root kept
 * elsewhere (fromPem: a Kubernetes Secret) are replaced where they are kept.
 */
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { PemConverter, Pkcs10CertificateRequest, type X509Certificate } from '@peculiar/x509';
import { systemClock, type Clock } from '../../shared/clock.js';
import {
  assertTrustDomain,
  BUNDLE_FILE,
  normalizeSerial,
  parseSpiffeId,
  SpiffeIdError,
} from '../../shared/identity/index.js';
import {
  CLOCK_SKEW_MS,
  createLeafCertificate,
  createRootCertificate,
  generateRootKey,
  randomSerial,
} from './certificates.js';
import { CaError } from './errors.js';
import {
  certificatesOf,
  createFile,
  ensureDirectory,
  readOptionalFile,
  readPrivateFile,
  replaceFile,
  ROOT_FILE,
  rootFileText,
  rootOf,
  type Root,
} from './root-files.js';

export const DEFAULT_LEAF_LIFETIME_MS = 24 * 3_600_000;
/** A CSR larger than this is refused before parsing: a P-256 CSR is well under 1 KiB. */
export const MAX_CSR_BYTES = 16 * 1024;

export interface LoadOrCreateOptions {
  /** Directory of root.pem and bundle.pem; created 0700 when missing. */
  readonly dir: string;
  readonly trustDomain: string;
  readonly clock?: Clock;
}

export interface FromFilesOptions {
  /** The operator's root certificate (PEM). */
  readonly certFile: string;
  /** Its private key (PEM, PKCS#8 or SEC1, ECDSA P-256); refused when others may read it. */
  readonly keyFile: string;
  readonly trustDomain: string;
  readonly clock?: Clock;
}

export interface FromPemOptions {
  /** The issuing root's certificate (PEM). */
  readonly certificatePem: string;
  /** Its private key (PEM, PKCS#8 or SEC1, ECDSA P-256). Never logged, never in an error. */
  readonly keyPem: string;
  /** Every root trusted (PEM); the issuer is added when missing. Default: the issuer alone. */
  readonly bundlePem?: string;
  readonly trustDomain: string;
  /** Where the root is kept, for messages (e.g. "Secret streammesh/streammesh-ca"). */
  readonly where: string;
  /** Why rotate() and retire() are refused: what to do instead. */
  readonly notRotatable: string;
  readonly clock?: Clock;
}

/** A new root's certificate and PKCS#8 key, PEM: what a store outside the CA keeps. */
export interface NewRoot {
  readonly certificatePem: string;
  readonly keyPem: string;
}

export interface IssueOptions {
  readonly spiffeId: string;
  /** A node's id, written as the subject CN; must be a DNS label. None for other workloads. */
  readonly nodeId?: string | undefined;
  readonly lifetimeMs?: number;
}

export interface IssuedCertificate {
  /** The leaf. */
  readonly certificatePem: string;
  /** The certificates above the leaf, up to the root that signed it. */
  readonly chainPem: string;
  readonly notAfter: Date;
  /** The leaf's serial number, upper-case hex (as node:tls shows a peer's). */
  readonly serialNumber: string;
}

export class MeshCa {
  readonly trustDomain: string;
  readonly #clock: Clock;
  /** Where the roots are kept, undefined for a root kept elsewhere (not rotated here). */
  readonly #dir: string | undefined;
  /** Why a root kept elsewhere is not rotated here: what to do instead. */
  readonly #notRotatable: string;
  #issuer: Root;
  /** Every root trusted now, the issuer included, oldest first. */
  #trusted: X509Certificate[];

  private constructor(
    trustDomain: string,
    clock: Clock,
    dir: string | { notRotatable: string },
    issuer: Root,
    trusted: X509Certificate[],
  ) {
    this.trustDomain = trustDomain;
    this.#clock = clock;
    this.#dir = typeof dir === 'string' ? dir : undefined;
    this.#notRotatable = typeof dir === 'string' ? '' : dir.notRotatable;
    this.#issuer = issuer;
    this.#trusted = trusted;
  }

  /** The CA kept in `dir`: its root is made on the first start and read on the next ones. */
  static async loadOrCreate(options: LoadOrCreateOptions): Promise<MeshCa> {
    assertTrustDomain(options.trustDomain);
    const clock = options.clock ?? systemClock;
    ensureDirectory(options.dir);
    const rootFile = join(options.dir, ROOT_FILE);
    if (readPrivateFile(rootFile) === undefined) {
      const keys = await generateRootKey();
      const certificate = await createRootCertificate(keys, options.trustDomain, clock.now());
      if (createFile(rootFile, await rootFileText(certificate, keys.privateKey), 0o600)) {
        replaceFile(join(options.dir, BUNDLE_FILE), certificate.toString('pem') + '\n', 0o644);
      }
    }
    const text = readPrivateFile(rootFile) ?? '';
    const issuer = await rootOf(text, text, rootFile);
    const bundleFile = join(options.dir, BUNDLE_FILE);
    const bundle = certificatesOf(readOptionalFile(bundleFile) ?? '', bundleFile);
    return new MeshCa(options.trustDomain, clock, options.dir, issuer, withIssuer(bundle, issuer));
  }

  /** A root the operator supplies; it is trusted alone and never rotated by the CA. */
  static async fromFiles(options: FromFilesOptions): Promise<MeshCa> {
    assertTrustDomain(options.trustDomain);
    const keyPem = readPrivateFile(options.keyFile);
    const certificatePem = readOptionalFile(options.certFile);
    if (keyPem === undefined || certificatePem === undefined) {
      const missing = keyPem === undefined ? options.keyFile : options.certFile;
      throw new CaError('ERR_CA_FILE', `${missing}: no such file`);
    }
    const issuer = await rootOf(
      certificatePem,
      keyPem,
      `${options.certFile} and ${options.keyFile}`,
    );
    return new MeshCa(
      options.trustDomain,
      options.clock ?? systemClock,
      { notRotatable: 'a root supplied from files: replace the files instead' },
      issuer,
      [issuer.certificate],
    );
  }

  /**
   * A root kept outside the CA (a Kubernetes Secret), given as text: trusted
   * with the bundle given, never rotated here (options.notRotatable says
   * what to do instead). Throws CaError ERR_CA_FILE naming `where` (never
   * the key) when the certificate and key do not make a P-256 CA root.
   */
  static async fromPem(options: FromPemOptions): Promise<MeshCa> {
    assertTrustDomain(options.trustDomain);
    const issuer = await rootOf(options.certificatePem, options.keyPem, options.where);
    const bundle = certificatesOf(options.bundlePem ?? '', options.where);
    return new MeshCa(
      options.trustDomain,
      options.clock ?? systemClock,
      { notRotatable: options.notRotatable },
      issuer,
      withIssuer(bundle, issuer),
    );
  }

  /** A new root for `trustDomain`, for a store outside the CA to keep (then fromPem). */
  static async newRoot(trustDomain: string, clock: Clock = systemClock): Promise<NewRoot> {
    assertTrustDomain(trustDomain);
    const keys = await generateRootKey();
    const certificate = await createRootCertificate(keys, trustDomain, clock.now());
    const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      certificatePem: certificate.toString('pem') + '\n',
      keyPem: PemConverter.encode(der, 'PRIVATE KEY') + '\n',
    };
  }

  /**
   * A leaf for `spiffeId` (and `nodeId`) bound to the CSR's key. Throws
   * CaError ERR_CA_CSR for a request that cannot be parsed or whose
   * signature does not verify, ERR_CA_IDENTITY for an ID outside this trust
   * domain or a node id that is not a DNS label.
   */
  async issue(csrPem: string, options: IssueOptions): Promise<IssuedCertificate> {
    const lifetimeMs = options.lifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS;
    if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) {
      throw new RangeError(
        `lifetimeMs must be a positive number of milliseconds, not ${lifetimeMs}`,
      );
    }
    this.#assertOwnIdentity(options.spiffeId);
    if (options.nodeId !== undefined && !isNodeId(options.nodeId)) {
      throw new CaError(
        'ERR_CA_IDENTITY',
        `node id ${JSON.stringify(options.nodeId.slice(0, 100))} must be a DNS label`,
      );
    }
    const csr = await parseCsr(csrPem);
    const now = this.#clock.now();
    const issuer = this.#issuer;
    // A leaf never outlives the root that vouches for it. Whole seconds: the
    // certificate keeps no more, and notAfter must be the date it holds.
    const notAfter = new Date(
      Math.floor(Math.min(now + lifetimeMs, issuer.certificate.notAfter.getTime()) / 1000) * 1000,
    );
    const leaf = await createLeafCertificate(issuer, {
      publicKey: csr.publicKey,
      spiffeId: options.spiffeId,
      nodeId: options.nodeId,
      serialNumber: randomSerial(),
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter,
    });
    return {
      certificatePem: leaf.toString('pem') + '\n',
      chainPem: issuer.certificate.toString('pem') + '\n',
      notAfter,
      serialNumber: normalizeSerial(leaf.serialNumber) ?? leaf.serialNumber.toUpperCase(),
    };
  }

  /** PEM of every root trusted now: what workloads verify peers against. */
  trustBundle(): string {
    return this.#trusted.map((root) => root.toString('pem') + '\n').join('');
  }

  /** The issuing root's certificate (PEM). */
  issuerCertificate(): string {
    return this.#issuer.certificate.toString('pem') + '\n';
  }

  /**
   * A new root becomes the issuer; the roots before it stay trusted until
   * retire(). The bundle is written before the new root, so a crash between
   * the two leaves a bundle that trusts both, never one that lacks the issuer.
   */
  async rotate(): Promise<void> {
    const dir = this.#writableDir('rotate');
    const keys = await generateRootKey();
    const certificate = await createRootCertificate(keys, this.trustDomain, this.#clock.now());
    const trusted = [...this.#trusted, certificate];
    replaceFile(join(dir, BUNDLE_FILE), pemOf(trusted), 0o644);
    replaceFile(join(dir, ROOT_FILE), await rootFileText(certificate, keys.privateKey), 0o600);
    const text = readPrivateFile(join(dir, ROOT_FILE)) ?? '';
    this.#issuer = await rootOf(text, text, join(dir, ROOT_FILE));
    this.#trusted = trusted;
  }

  /** Stops trusting every root but the issuer (the end of a rotation's overlap). */
  retire(): void {
    const dir = this.#writableDir('retire');
    const trusted = [this.#issuer.certificate];
    replaceFile(join(dir, BUNDLE_FILE), pemOf(trusted), 0o644);
    this.#trusted = trusted;
  }

  #assertOwnIdentity(id: string): void {
    let trustDomain: string;
    try {
      ({ trustDomain } = parseSpiffeId(id));
    } catch (error) {
      if (error instanceof SpiffeIdError) throw new CaError('ERR_CA_IDENTITY', error.message);
      throw error;
    }
    if (trustDomain !== this.trustDomain) {
      throw new CaError(
        'ERR_CA_IDENTITY',
        `${id} is in trust domain ${trustDomain}; this CA certifies only ${this.trustDomain}`,
      );
    }
  }

  #writableDir(operation: string): string {
    if (this.#dir === undefined) {
      throw new CaError('ERR_CA_STATE', `cannot ${operation} ${this.#notRotatable}`);
    }
    return this.#dir;
  }
}

/** A CSR whose signature verifies with its own key; anything else is ERR_CA_CSR. */
async function parseCsr(pem: string): Promise<Pkcs10CertificateRequest> {
  if (pem.length > MAX_CSR_BYTES) {
    throw new CaError('ERR_CA_CSR', `the CSR is ${pem.length} bytes; at most ${MAX_CSR_BYTES}`);
  }
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(pem);
  } catch (error) {
    throw new CaError('ERR_CA_CSR', 'the CSR is not a PKCS#10 certificate request', {
      cause: error,
    });
  }
  let valid: boolean;
  try {
    valid = await csr.verify(webcrypto);
  } catch (error) {
    throw new CaError('ERR_CA_CSR', 'the CSR signature cannot be checked', error);
  }
  if (!valid) {
    throw new CaError('ERR_CA_CSR', "the CSR signature does not verify with the CSR's own key");
  }
  return csr;
}

/** A node id as nodes register it (a DNS label of the node registry's alphabet). */
const NODE_ID = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

export function isNodeId(id: string): boolean {
  return NODE_ID.test(id);
}

function pemOf(certificates: readonly X509Certificate[]): string {
  return certificates.map((certificate) => certificate.toString('pem') + '\n').join('');
}

/** The bundle read from disk, deduplicated, with the issuer in it whatever the file said. */
function withIssuer(bundle: readonly X509Certificate[], issuer: Root): X509Certificate[] {
  const seen = new Set<string>();
  const trusted: X509Certificate[] = [];
  for (const certificate of [...bundle, issuer.certificate]) {
    const key = certificate.toString('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    trusted.push(certificate);
  }
  return trusted;
}
