/**
 * What the control plane's identity tests share: a real control plane with
 * mutual TLS in a temporary directory (its own CA dir, bootstrap and admin
 * token files, free ports), gRPC clients that check its certificate as a
 * node does (trust bundle + its SPIFFE ID), workload keys and CSRs, openssl
 * for what our own code must not judge, and the metrics as Prometheus text.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { defaultConfig } from '../../../src/config/index.js';
import {
  createMeshControlClient,
  createMeshIdentityClient,
  type CertificateRequest,
  type CertificateResponse,
  type MeshControlClient,
  type MeshIdentityClient,
  type RegisterRequest,
} from '../../../src/protocol/mesh/index.js';
import { formatHostPort, httpUrl } from '../../../src/shared/address.js';
import {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  spiffeId,
  spiffeServerIdentityCheck,
} from '../../../src/shared/identity/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { getText } from '../../helpers/http.js';

export const OPENSSL = '/usr/bin/openssl';
export const TRUST_DOMAIN = 'mesh.test';
export const CONTROL_PLANE_ID = `spiffe://${TRUST_DOMAIN}/ns/streammesh/sa/control-plane`;

export function proxyId(serviceAccount = 'streammesh-proxy', trustDomain = TRUST_DOMAIN): string {
  return spiffeId({ trustDomain, namespace: 'default', serviceAccount });
}

export interface SecurePlane {
  readonly plane: RunningControlPlane;
  readonly dir: string;
  readonly target: string;
  readonly adminUrl: string;
  /** The bootstrap token, read from the file the control plane made. */
  readonly bootstrapToken: string;
  readonly bundle: string;
  /** Writes text to a new file of the test's directory; returns its path. */
  file(text: string, name?: string): string;
  /** The admin token, read from the file the control plane made. */
  adminToken(): string;
  close(): Promise<void>;
  /** Closes the control plane but keeps its directory, for a restart on it (SecurePlaneOptions.dir). */
  stop(): Promise<void>;
}

export interface SecurePlaneOptions {
  /**
   * controlPlane.ca.leafLifetimeSec; the schema's floor (60) is not applied
   * here, so that a test can watch renewals at half-life within seconds.
   */
  readonly leafLifetimeSec?: number;
  /** Serve the mutual-TLS admin listener (controlPlane.adminMtls) on a free port. */
  readonly adminMtls?: boolean;
  /**
   * The directory of a plane stopped before (SecurePlane.dir): the restart
   * finds its CA, tokens and revocation list there. Default: a new one.
   */
  readonly dir?: string;
  /** controlPlane.signalingIdentities: the SPIFFE IDs that may register as signaling nodes. */
  readonly signalingIdentities?: readonly string[];
}

export async function startSecurePlane(options: SecurePlaneOptions = {}): Promise<SecurePlane> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'cp-mtls-'));
  const defaults = defaultConfig({
    STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
    STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
  });
  const config = {
    ...defaults,
    controlPlane: {
      ...defaults.controlPlane,
      mtls: true,
      trustDomain: TRUST_DOMAIN,
      ca: {
        ...defaults.controlPlane.ca,
        dir: join(dir, 'ca'),
        ...(options.leafLifetimeSec === undefined
          ? {}
          : { leafLifetimeSec: options.leafLifetimeSec }),
      },
      ...(options.adminMtls === true ? { adminMtls: '127.0.0.1:0' } : {}),
      ...(options.signalingIdentities === undefined
        ? {}
        : { signalingIdentities: [...options.signalingIdentities] }),
      bootstrapTokenFile: join(dir, 'state', 'bootstrap-token'),
      adminTokenFile: join(dir, 'state', 'admin-token'),
    },
  };
  const plane = await startControlPlane({
    config,
    // No variable may replace the files this test made.
    env: { XDG_STATE_HOME: join(dir, 'xdg') },
    log: createLogger('control-plane', 'silent'),
  });
  const identity = plane.identity;
  if (identity === undefined) throw new Error('mtls is on, yet the control plane has no identity');
  let files = 0;
  return {
    plane,
    dir,
    target: formatHostPort(plane.grpc),
    adminUrl: httpUrl(plane.admin),
    bootstrapToken: readFileSync(join(dir, 'state', 'bootstrap-token'), 'utf8').trim(),
    bundle: identity.trustBundle(),
    file(text, name = `f${(files += 1)}.pem`) {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    },
    adminToken: () => readFileSync(join(dir, 'state', 'admin-token'), 'utf8').trim(),
    async close() {
      await plane.close();
      rmSync(dir, { recursive: true, force: true });
    },
    async stop() {
      await plane.close();
    },
  };
}

/** A client key and certificate to present (mutual TLS). */
export interface ClientCertificate {
  readonly keyPem: string;
  readonly certificatePem: string;
}

/** TLS as a node makes it: the bundle, its certificate if any, the control plane's ID checked. */
export function channelCredentials(
  bundle: string,
  client?: ClientCertificate,
): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(bundle),
    client === undefined ? null : Buffer.from(client.keyPem),
    client === undefined ? null : Buffer.from(client.certificatePem),
    {
      checkServerIdentity: spiffeServerIdentityCheck(
        TRUST_DOMAIN,
        (identity) => identity.spiffeId === CONTROL_PLANE_ID,
      ),
    },
  );
}

export function identityClient(
  secure: SecurePlane,
  client?: ClientCertificate,
): MeshIdentityClient {
  return createMeshIdentityClient(secure.target, channelCredentials(secure.bundle, client));
}

export function controlClient(
  secure: SecurePlane,
  client?: ClientCertificate,
  bundle = secure.bundle,
): MeshControlClient {
  return createMeshControlClient(secure.target, channelCredentials(bundle, client));
}

/** Registers `id` as a proxy over `client`: null when taken, else the error that refused it. */
export function register(client: MeshControlClient, id: string): Promise<grpc.ServiceError | null> {
  const request: RegisterRequest = {
    identity: { id, node: 'test', role: 'ROLE_PROXY' },
    capabilities: ['rtp'],
    listenAddresses: {},
    currentVersion: '',
  };
  return new Promise((resolve) => {
    client.register(request, { deadline: Date.now() + 5_000 }, (error) => resolve(error));
  });
}

export type Answer<T> = { ok: true; value: T } | { ok: false; error: grpc.ServiceError };

export function issue(
  client: MeshIdentityClient,
  request: CertificateRequest,
): Promise<Answer<CertificateResponse>> {
  return new Promise((resolve) => {
    client.issueCertificate(request, { deadline: Date.now() + 5_000 }, (error, response) => {
      if (error !== null) resolve({ ok: false, error });
      else if (response === undefined) throw new Error('no error and no response');
      else resolve({ ok: true, value: response });
    });
  });
}

/** A fresh key and a CSR asking for `id`. */
export async function keyAndCsr(id: string): Promise<{ keyPem: string; csrPem: string }> {
  const key = await generateWorkloadKey();
  return { keyPem: privateKeyPem(key), csrPem: await createCsr(key, id) };
}

/** A certificate from the plane, with the bootstrap token. */
export async function certified(
  secure: SecurePlane,
  id: string,
  nodeId: string,
): Promise<ClientCertificate & { response: CertificateResponse }> {
  const { keyPem, csrPem } = await keyAndCsr(id);
  const client = identityClient(secure);
  try {
    const answer = await issue(client, {
      csrPem,
      bootstrapToken: secure.bootstrapToken,
      nodeId,
    });
    if (!answer.ok) throw answer.error;
    return { keyPem, certificatePem: answer.value.certificatePem, response: answer.value };
  } finally {
    client.close();
  }
}

/** Runs openssl; its status and all it printed. */
export function openssl(args: readonly string[], input?: string): { ok: boolean; output: string } {
  const result = spawnSync(OPENSSL, args, {
    encoding: 'utf8',
    timeout: 15_000,
    ...(input === undefined ? {} : { input }),
  });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/**
 * openssl without blocking this process, for commands that talk to the
 * control plane running in it (s_client): its stdin is closed at once.
 */
export function opensslAsync(args: readonly string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(OPENSSL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill(), 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, output });
    });
    child.stdin.end();
  });
}

/** The value of one sample of the control plane's /metrics (0 when absent). */
export async function metric(
  secure: SecurePlane,
  name: string,
  labels: Readonly<Record<string, string>>,
): Promise<number> {
  const { text } = await getText(`${secure.adminUrl}/metrics`);
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{([^}]*)\}/.exec(line)?.[1] ?? '';
    const present = labelText === '' ? [] : labelText.split(',');
    if (wanted.every((pair) => present.includes(pair))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return 0;
}

/**
 * A request to the plane's mutual-TLS admin listener, presenting `client`'s
 * certificate (none when undefined) and checking the control plane's.
 */
export function adminMtlsCall(
  secure: SecurePlane,
  method: string,
  path: string,
  body: string,
  client?: ClientCertificate,
  contentType = 'application/json',
): Promise<{ status: number; text: string }> {
  const listen = secure.plane.adminMtls;
  if (listen === undefined) throw new Error('no adminMtls listener');
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: listen.host,
        port: listen.port,
        method,
        path,
        ca: secure.bundle,
        ...(client === undefined ? {} : { key: client.keyPem, cert: client.certificatePem }),
        checkServerIdentity: spiffeServerIdentityCheck(
          TRUST_DOMAIN,
          (peer) => peer.spiffeId === CONTROL_PLANE_ID,
        ),
        headers: { 'content-type': contentType },
        agent: false,
        timeout: 5_000,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
