/**
 * The two-proxy topology of `bench:http --mtls` (and `--two-hop`, the same
 * without TLS): what a mesh does to a request between two services.
 *
 *   client -> entry listener (plaintext, the application's local proxy)
 *          -> hop: mutual TLS (or plaintext) between two proxies
 *          -> hop listener (the server-side proxy) -> backend
 *
 * Both proxies run in one process per target, so each target's CPU is
 * that of both hops, as one HAProxy with two frontends does both:
 *
 *   streammesh  a cluster with tls mode "mesh" to its own mesh listener;
 *               its certificate is the one `up`'s mesh CA issued the node
 *               (ECDSA P-256, TLS 1.3)
 *   haproxy     `server ... ssl crt <client> ca-file <ca> verify required`
 *               to a frontend `bind ... ssl crt <server> ca-file <ca>
 *               verify required`: certificates made here by openssl (ECDSA
 *               P-256, SPIFFE URI SANs, TLS 1.3 only), the same TLS work
 *
 * HTTP/2 and gRPC cross the hop as HTTP/2 (ALPN h2), HTTP/1.1 as HTTP/1.1.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Listeners, Protocol } from './endpoints.js';

/** How the two proxies of a target talk: not at all (one hop), in clear, or over mutual TLS. */
export type Hop = 'none' | 'plain' | 'mtls';

/** Where each protocol's backend listens. */
type Backends = Readonly<Record<Protocol, number>>;

/** Certificate files for HAProxy: its `crt` files hold the certificate and its key. */
export interface HaproxyCertificates {
  readonly caFile: string;
  readonly clientCrt: string;
  readonly serverCrt: string;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

/** A CA and two leaves (client and server proxy) in `dir`, as HAProxy reads them. */
export function haproxyCertificates(dir: string): HaproxyCertificates {
  const caKey = join(dir, 'hop-ca.key');
  const caFile = join(dir, 'hop-ca.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl([
    ...['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=ca'],
    ...['-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  const leaf = (name: string): string => {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.crt.pem`);
    const ext = join(dir, `${name}.ext`);
    writeFileSync(
      ext,
      `subjectAltName=URI:spiffe://streammesh.local/ns/default/sa/${name}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    openssl(['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
    openssl([
      ...['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-days', '2'],
      ...['-extfile', ext, '-out', cert],
    ]);
    const crt = join(dir, `${name}.pem`);
    writeFileSync(crt, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
    return crt;
  };
  return { caFile, clientCrt: leaf('frontend'), serverCrt: leaf('users') };
}

/** HAProxy's frontends and backends for the two-hop topology (after its global/defaults). */
export function haproxyTwoHopSections(
  listeners: Listeners,
  hopPorts: Listeners,
  backends: Backends,
  certificates: HaproxyCertificates | undefined,
): string[] {
  const lines: string[] = [];
  for (const protocol of Object.keys(listeners) as Protocol[]) {
    const h2 = protocol !== 'http1';
    const alpn = h2 ? 'h2' : 'http/1.1';
    const tls = (crt: string): string =>
      certificates === undefined
        ? ''
        : ` ssl crt ${crt} ca-file ${certificates.caFile} verify required alpn ${alpn} ssl-min-ver TLSv1.3`;
    lines.push(
      `frontend ${protocol}`,
      `  bind 127.0.0.1:${listeners[protocol]}${h2 ? ' proto h2' : ''}`,
      `  default_backend hop_${protocol}`,
      `backend hop_${protocol}`,
      `  server hop 127.0.0.1:${hopPorts[protocol]}${tls(certificates?.clientCrt ?? '')}${h2 && certificates === undefined ? ' proto h2' : ''}`,
      `frontend hop_${protocol}`,
      `  bind 127.0.0.1:${hopPorts[protocol]}${tls(certificates?.serverCrt ?? '')}${h2 && certificates === undefined ? ' proto h2' : ''}`,
      `  default_backend backend_${protocol}`,
      `backend backend_${protocol}`,
      `  server backend 127.0.0.1:${backends[protocol]}${h2 ? ' proto h2' : ''}`,
    );
  }
  return lines;
}

/** streammesh's proxy.http for the two-hop topology: entry listeners, hop listeners, clusters. */
export function streammeshTwoHopHttp(
  listeners: Listeners,
  hopPorts: Listeners,
  backends: Backends,
  hop: 'plain' | 'mtls',
): Record<string, unknown> {
  const protocols = Object.keys(listeners) as Protocol[];
  const tls = hop === 'mtls' ? { tls: { mode: 'mesh' } } : {};
  return {
    listeners: protocols.flatMap((protocol) => [
      { name: protocol, listen: `127.0.0.1:${listeners[protocol]}`, protocol: 'auto' },
      {
        name: `hop-${protocol}`,
        listen: `127.0.0.1:${hopPorts[protocol]}`,
        protocol: 'auto',
        ...tls,
      },
    ]),
    routes: protocols.flatMap((protocol) => [
      {
        name: protocol,
        listener: protocol,
        match: { path: { prefix: '/' } },
        action: { cluster: `hop-${protocol}` },
      },
      {
        name: `hop-${protocol}`,
        listener: `hop-${protocol}`,
        match: { path: { prefix: '/' } },
        action: { cluster: protocol },
      },
    ]),
    clusters: protocols.flatMap((protocol) => [
      {
        name: `hop-${protocol}`,
        endpoints: [`127.0.0.1:${hopPorts[protocol]}`],
        http2: protocol !== 'http1',
        ...tls,
      },
      {
        name: protocol,
        endpoints: [`127.0.0.1:${backends[protocol]}`],
        http2: protocol !== 'http1',
      },
    ]),
  };
}
