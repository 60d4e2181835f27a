/**
 * The control plane's token-issuer identity: a P-256 key and a mesh CA leaf
 * for spiffe://<trust domain>/ns/streammesh/sa/token-issuer, which signs edge
 * tokens. Edges trust a token because this leaf chains to the mesh trust
 * bundle and names that ID; no other leaf of the CA may sign one.
 *
 * The leaf lives twice the longest token (MAX_TOKEN_TTL_SEC), and a new key
 * and leaf are made once half of it has passed, on the next mint rather than
 * on a timer (nothing to stop at close): so the leaf in use always outlives
 * any token it signs, and a token stays valid to its exp. The first leaf is
 * made at start, so a CA that cannot issue shows at start, not at the first
 * request.
 *
 * After a CA rotation a new leaf is made once `signingRoot()` moves: by
 * default the CA's issuer (at once); on the control plane, the issuer every
 * connected node has ACKed in its bundle (ca-rotation.ts), so no edge meets
 * a token it cannot verify yet.
 *
 * A leaf an operator revokes (POST /certificates/<serial>/revoke, with the
 * serial of its x5c) is replaced at the next mint too: edges refuse tokens
 * it signed, from then on, as they learn the list with the trust bundle.
 *
 * Every new leaf is told to onNewSigner's listeners with the recent leaves
 * (PEM, the newest and the one before: tokens of the old one live on): the
 * control plane pushes them to every node with the trust bundle, so edges
 * verify compact tokens (which name their leaf by thumbprint) at once.
 */
import { KeyObject, X509Certificate } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import {
  MAX_TOKEN_TTL_SEC,
  mint,
  tokenIssuerId,
  type EdgeTokenSigner,
  type MintedToken,
  type MintRequest,
} from '../../shared/edge-token/index.js';
import {
  createCsr,
  generateWorkloadKey,
  isRevokedX509,
  pemCertificateBlocks,
  type RevokedSerials,
} from '../../shared/identity/index.js';
import type { MeshCa } from '../ca/index.js';

/** The signing leaf's lifetime: any token it signs expires before it does, with half to spare. */
export const TOKEN_ISSUER_LIFETIME_MS = 2 * MAX_TOKEN_TTL_SEC * 1000;
/**
 * Signing leaves pushed to edges: the one in use and the one before it,
 * whose tokens may still be valid (a leaf is replaced at half its life,
 * which is twice the longest token's).
 */
const RECENT_LEAVES = 2;

/** What the token issuer needs of the revocation list (control-plane/ca/revocations.ts). */
export interface TokenIssuerRevocations extends RevokedSerials {
  noteIssued(serial: string, spiffeId: string, notAfterMs: number, nodeId: string | null): void;
}

export class TokenIssuer {
  readonly #ca: MeshCa;
  readonly #clock: Clock;
  #signer: EdgeTokenSigner;
  #renewAtMs: number;
  /** The root to sign under; when it moves (a rotation), a new leaf is made. */
  readonly #signingRoot: () => string;
  /** What signingRoot() said when the leaf was made. */
  #issuerPem: string;
  #renewing: Promise<void> | undefined;
  /** The last RECENT_LEAVES leaves, newest last (PEM). */
  #recentLeaves: string[] = [];
  readonly #signerListeners = new Set<(leavesPem: string) => void>();
  readonly #revocations: TokenIssuerRevocations | undefined;

  private constructor(
    ca: MeshCa,
    clock: Clock,
    signingRoot: () => string,
    issued: IssuedSigner,
    revocations: TokenIssuerRevocations | undefined,
  ) {
    this.#ca = ca;
    this.#clock = clock;
    this.#signingRoot = signingRoot;
    this.#revocations = revocations;
    this.#signer = issued.signer;
    this.#renewAtMs = issued.renewAtMs;
    this.#issuerPem = issued.issuerPem;
    this.#recentLeaves = [leafPem(issued.signer)];
  }

  /** The recent signing leaves (PEM): what edges need for compact tokens. */
  signingLeaves(): string {
    return this.#recentLeaves.join('');
  }

  /** Called with signingLeaves() whenever a new leaf signs. */
  onNewSigner(listener: (leavesPem: string) => void): void {
    this.#signerListeners.add(listener);
  }

  /** `signingRoot`: the root (PEM) leaves should come from; default the CA's issuer. */
  static async start(
    ca: MeshCa,
    clock: Clock,
    signingRoot: () => string = () => ca.issuerCertificate(),
    revocations?: TokenIssuerRevocations,
  ): Promise<TokenIssuer> {
    const issued = await issueSigner(ca, clock, signingRoot(), revocations);
    return new TokenIssuer(ca, clock, signingRoot, issued, revocations);
  }

  /** Throws EdgeTokenError for a request no edge should honour. */
  async mint(request: MintRequest): Promise<MintedToken> {
    if (
      this.#clock.now() >= this.#renewAtMs ||
      this.#signingRoot() !== this.#issuerPem ||
      this.#leafRevoked()
    ) {
      // Concurrent mints share one renewal.
      this.#renewing ??= issueSigner(this.#ca, this.#clock, this.#signingRoot(), this.#revocations)
        .then((issued) => {
          this.#signer = issued.signer;
          this.#renewAtMs = issued.renewAtMs;
          this.#issuerPem = issued.issuerPem;
          this.#recentLeaves = [...this.#recentLeaves, leafPem(issued.signer)].slice(
            -RECENT_LEAVES,
          );
          for (const listener of this.#signerListeners) listener(this.signingLeaves());
        })
        .finally(() => {
          this.#renewing = undefined;
        });
      await this.#renewing;
    }
    return mint(this.#signer, request, this.#clock.now());
  }

  #leafRevoked(): boolean {
    const [leaf] = this.#signer.certificates;
    return (
      this.#revocations !== undefined &&
      leaf !== undefined &&
      isRevokedX509(new X509Certificate(leaf), this.#revocations)
    );
  }
}

interface IssuedSigner {
  readonly signer: EdgeTokenSigner;
  readonly renewAtMs: number;
  readonly issuerPem: string;
}

/** A new leaf; `issuerPem` is what signingRoot() says now, kept to see it move. */
async function issueSigner(
  ca: MeshCa,
  clock: Clock,
  issuerPem: string,
  revocations: TokenIssuerRevocations | undefined,
): Promise<IssuedSigner> {
  const issuerId = tokenIssuerId(ca.trustDomain);
  const key = await generateWorkloadKey();
  const issued = await ca.issue(await createCsr(key, issuerId), {
    spiffeId: issuerId,
    lifetimeMs: TOKEN_ISSUER_LIFETIME_MS,
  });
  // Known to the list, a revocation of it also covers its 60-day lifetime.
  revocations?.noteIssued(issued.serialNumber, issuerId, issued.notAfter.getTime(), null);
  // The root is left out of x5c: every edge holds it in its bundle (a copy in
  // the token would be trusted for nothing), and without it a token (~1.3 KiB)
  // fits the 2 KiB request URL an RTSP server takes, as ?jwt=.
  const certificates = pemCertificateBlocks(issued.certificatePem + issued.chainPem)
    .map((pem) => new X509Certificate(pem))
    .filter((certificate) => !isSelfSigned(certificate))
    .map((certificate) => certificate.raw);
  const issuedAtMs = clock.now();
  const notAfterMs = issued.notAfter.getTime();
  return {
    signer: {
      issuerId,
      privateKey: KeyObject.from(key.privateKey),
      certificates,
      notAfterMs,
    },
    renewAtMs: issuedAtMs + (notAfterMs - issuedAtMs) / 2,
    issuerPem,
  };
}

/** The leaf that signs (the first of x5c), as PEM. */
function leafPem(signer: EdgeTokenSigner): string {
  const [leaf] = signer.certificates;
  return leaf === undefined ? '' : new X509Certificate(leaf).toString();
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}
