/**
 * What the L7 mutual-TLS tests share: a real mesh CA in a temp directory,
 * workload certificates it issues (the same WorkloadCertificates a node
 * holds), L7 proxies (the HttpService the proxy's thread runs) fed with
 * them, client certificates made by openssl that the mesh must refuse, and
 * an HTTPS client presenting a given certificate. Every wait is bounded.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshCa } from '../../src/control-plane/ca/index.js';
import {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  spiffeId,
  type WorkloadCertificates,
} from '../../src/shared/identity/index.js';
import { startProxy, type Answer, type RunningProxy } from './l7-harness.js';

export const TRUST_DOMAIN = 'streammesh.local';

/** spiffe://streammesh.local/ns/default/sa/<serviceAccount>. */
export function workloadId(serviceAccount: string): string {
  return spiffeId({ trustDomain: TRUST_DOMAIN, namespace: 'default', serviceAccount });
}

export interface TestCa {
  readonly ca: MeshCa;
  readonly dir: string;
  /** The root's certificate and key in one PEM file (what openssl signs with). */
  readonly rootFile: string;
  readonly bundlePem: string;
  close(): void;
}

export async function startTestCa(): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'l7-mtls-'));
  const ca = await MeshCa.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TRUST_DOMAIN });
  return {
    ca,
    dir,
    rootFile: join(dir, 'ca', 'root.pem'),
    bundlePem: ca.trustBundle(),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A workload's certificates from the CA, as a node holds them after IssueCertificate. */
export async function issueWorkload(ca: MeshCa, id: string): Promise<WorkloadCertificates> {
  const keys = await generateWorkloadKey();
  const issued = await ca.issue(await createCsr(keys, id), { spiffeId: id });
  return {
    spiffeId: id,
    nodeId: undefined,
    privateKeyPem: privateKeyPem(keys),
    certificatePem: issued.certificatePem,
    chainPem: issued.chainPem,
    trustBundlePem: ca.trustBundle(),
    notAfterMs: issued.notAfter.getTime(),
  };
}

/** An L7 proxy on `input` (proxy.http) holding `certificates` as its node's workload certificate. */
export function startMeshProxy(
  input: unknown,
  certificates: WorkloadCertificates | undefined,
): Promise<RunningProxy> {
  return startProxy(input, certificates);
}

/** A key and certificate on disk, for openssl and node:tls clients. */
export interface CertificateFiles {
  readonly keyFile: string;
  readonly certFile: string;
  readonly key: string;
  readonly cert: string;
}

/** Writes a workload's key and leaf+chain to `dir` under `name`. */
export function writeWorkload(
  dir: string,
  name: string,
  certificates: WorkloadCertificates,
): CertificateFiles {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  const cert = `${certificates.certificatePem.trimEnd()}\n${certificates.chainPem}`;
  writeFileSync(keyFile, certificates.privateKeyPem, { mode: 0o600 });
  writeFileSync(certFile, cert);
  return { keyFile, certFile, key: certificates.privateKeyPem, cert };
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

/**
 * Client certificates the mesh must refuse, made with openssl in `dir`:
 * expired (signed by the mesh root, valid until yesterday); another trust
 * domain (signed by the mesh root, naming spiffe://other.example/...);
 * self-signed (naming a mesh SPIFFE ID); another CA's (a root of its own).
 */
export function refusedClientCertificates(
  dir: string,
  meshRootFile: string,
  id: string,
): Readonly<Record<'expired' | 'otherTrustDomain' | 'selfSigned' | 'otherCa', CertificateFiles>> {
  const key = (name: string): string => {
    const file = join(dir, `${name}.key`);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
    return file;
  };
  const extFile = (name: string, uri: string): string => {
    const file = join(dir, `${name}.ext`);
    writeFileSync(
      file,
      `subjectAltName=URI:${uri}\nextendedKeyUsage=clientAuth,serverAuth\nbasicConstraints=critical,CA:FALSE\n`,
    );
    return file;
  };
  const signed = (
    name: string,
    uri: string,
    caCert: string,
    caKey: string,
    days: string,
  ): CertificateFiles => {
    const keyFile = key(name);
    const csr = join(dir, `${name}.csr`);
    const certFile = join(dir, `${name}.pem`);
    openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr]);
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-days',
      days,
      '-extfile',
      extFile(name, uri),
      '-out',
      certFile,
    ]);
    return files(keyFile, certFile);
  };
  const files = (keyFile: string, certFile: string): CertificateFiles => ({
    keyFile,
    certFile,
    key: readFileSync(keyFile, 'utf8'),
    cert: readFileSync(certFile, 'utf8'),
  });
  const selfSigned = (name: string, uri: string): CertificateFiles => {
    const keyFile = key(name);
    const certFile = join(dir, `${name}.pem`);
    openssl([
      'req',
      '-x509',
      '-key',
      keyFile,
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
      '-addext',
      `subjectAltName=URI:${uri}`,
      '-out',
      certFile,
    ]);
    return files(keyFile, certFile);
  };
  const otherRoot = (() => {
    const keyFile = key('other-root');
    const certFile = join(dir, 'other-root.pem');
    openssl([
      'req',
      '-x509',
      '-key',
      keyFile,
      '-subj',
      '/CN=other root',
      '-days',
      '10',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      certFile,
    ]);
    return { keyFile, certFile };
  })();
  const otherDomainId = id.replace(`spiffe://${TRUST_DOMAIN}/`, 'spiffe://other.example/');
  return {
    expired: signed('expired', id, meshRootFile, meshRootFile, '-1'),
    otherTrustDomain: signed('other-domain', otherDomainId, meshRootFile, meshRootFile, '1'),
    selfSigned: selfSigned('self-signed', id),
    otherCa: signed('other-ca', id, otherRoot.certFile, otherRoot.keyFile, '1'),
  };
}

export interface HttpsOptions {
  readonly port: number;
  readonly path: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The client's key and certificate (PEM); none when absent. */
  readonly client?: { readonly key: string; readonly cert: string };
  readonly ca: string;
  readonly timeoutMs?: number;
}

/** One HTTPS (HTTP/1.1) request on a fresh connection; the server's SPIFFE ID is not checked. */
export function sendHttps(options: HttpsOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: options.port,
        path: options.path,
        method: options.method ?? 'GET',
        headers: { host: 'mesh.test', ...options.headers },
        agent: false,
        ca: options.ca,
        ...options.client,
        checkServerIdentity: () => undefined,
        timeout: options.timeoutMs ?? 5_000,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            trailers: res.trailers,
            body: Buffer.concat(parts),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}
