/**
 * From EndpointSlices (discovery.k8s.io/v1) to a cluster's endpoint list:
 * pure functions, so the rule is tested without an API server.
 *
 * The rule:
 * - An endpoint serves when `conditions.ready` is not false and
 *   `conditions.terminating` is not true (an absent condition is unknown,
 *   which the API defines as ready). Its first address is used, as
 *   kube-proxy does (the controller writes exactly one).
 * - The port is the slice's, not the Service's: slices carry the endpoints'
 *   (target) ports. A named `service.port` picks the slice port of that
 *   name (the Service port's name, which the controller copies); a numeric
 *   one picks the slice port with that number, so it names the target
 *   port, and also fits a Service whose single port is unnamed. Only TCP
 *   ports count. A slice without that port adds nothing.
 * - The lists of all slices of the Service are merged, de-duplicated and
 *   sorted, so the same set of addresses gives the same config (no push).
 *
 * What the API server would refuse, but a broken or hostile one could still
 * send, is dropped and counted by reason, never thrown: a slice that is not
 * an object or has no name, an address type other than IPv4 or IPv6 (FQDN
 * is deprecated), more endpoints or ports than the API allows, slices of
 * one Service past MAX_SERVICE_SLICES; an address that is not an IP of the
 * slice's type, a port out of range.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { formatHostPort, parseHostPort } from '../../../shared/address.js';

/** The API's own limits (validation of EndpointSlice). */
export const MAX_SLICE_ENDPOINTS = 1000;
export const MAX_SLICE_PORTS = 100;
/**
 * Slices kept per Service: the controller puts up to 100 endpoints in one
 * (1000 at most), so this holds far more than a cluster's endpoint cap.
 */
export const MAX_SERVICE_SLICES = 256;
/** proxy.http.clusters[].endpoints holds at most this many (http-schema.ts). */
export const MAX_CLUSTER_ENDPOINTS = 4096;

/** Why (part of) a slice was dropped: the label of streammesh_control_plane_kubernetes_dropped_total. */
export type SliceDefect =
  | 'not_an_object'
  | 'no_name'
  | 'bad_address_type'
  | 'too_many_endpoints'
  | 'too_many_slices'
  | 'too_many_ports'
  | 'bad_endpoint'
  | 'bad_address'
  | 'bad_port';

export interface SlicePort {
  /** '' when unnamed (a Service with a single unnamed port). */
  readonly name: string;
  readonly port: number;
}

/** What one slice says, checked: its TCP ports and the addresses of its serving endpoints. */
export interface SliceEndpoints {
  readonly name: string;
  readonly ports: readonly SlicePort[];
  /** IPs as written (IPv6 without brackets). */
  readonly addresses: readonly string[];
}

export type CountDefect = (defect: SliceDefect) => void;

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The slice's name and what it says; undefined (counted) when it cannot be read at all. */
export function parseSlice(object: unknown, count: CountDefect): SliceEndpoints | undefined {
  const slice = record(object);
  if (slice === undefined) {
    count('not_an_object');
    return undefined;
  }
  const name = record(slice['metadata'])?.['name'];
  if (typeof name !== 'string' || name === '') {
    count('no_name');
    return undefined;
  }
  const addressType = slice['addressType'];
  const isAddress = addressType === 'IPv4' ? isIPv4 : addressType === 'IPv6' ? isIPv6 : undefined;
  if (isAddress === undefined) {
    count('bad_address_type');
    return undefined;
  }
  const endpoints = slice['endpoints'] ?? [];
  if (!Array.isArray(endpoints)) {
    count('bad_endpoint');
    return undefined;
  }
  if (endpoints.length > MAX_SLICE_ENDPOINTS) {
    count('too_many_endpoints');
    return undefined;
  }
  const ports = slice['ports'] ?? [];
  if (!Array.isArray(ports)) {
    count('bad_port');
    return undefined;
  }
  if (ports.length > MAX_SLICE_PORTS) {
    count('too_many_ports');
    return undefined;
  }
  return {
    name,
    ports: ports.flatMap((port) => parsePort(port, count)),
    addresses: endpoints.flatMap((endpoint) => servingAddress(endpoint, isAddress, count)),
  };
}

function parsePort(value: unknown, count: CountDefect): SlicePort[] {
  const port = record(value);
  if (port === undefined) {
    count('bad_port');
    return [];
  }
  const protocol = port['protocol'] ?? 'TCP';
  // A null port means "all ports" (no Service port to pick): nothing to send to.
  if (protocol !== 'TCP' || port['port'] === null || port['port'] === undefined) return [];
  const number = port['port'];
  const name = port['name'] ?? '';
  if (
    typeof number !== 'number' ||
    !Number.isInteger(number) ||
    number < 1 ||
    number > 65535 ||
    typeof name !== 'string'
  ) {
    count('bad_port');
    return [];
  }
  return [{ name, port: number }];
}

function servingAddress(
  value: unknown,
  isAddress: (text: string) => boolean,
  count: CountDefect,
): string[] {
  const endpoint = record(value);
  const addresses = endpoint?.['addresses'];
  if (endpoint === undefined || !Array.isArray(addresses)) {
    count('bad_endpoint');
    return [];
  }
  const conditions = record(endpoint['conditions']) ?? {};
  if (conditions['ready'] === false || conditions['terminating'] === true) return [];
  const address: unknown = addresses[0];
  // A zone ("fe80::1%eth0") passes isIPv6 but is no host of host:port.
  if (typeof address !== 'string' || !isAddress(address) || address.includes('%')) {
    count('bad_address');
    return [];
  }
  return [address];
}

/**
 * The endpoints (host:port) the slices give for `port` (a Service port's
 * name, or a port number): merged, de-duplicated, sorted, at most
 * MAX_CLUSTER_ENDPOINTS (the rest counted as too_many_endpoints).
 */
export function endpointsFor(
  slices: Iterable<SliceEndpoints>,
  port: string | number,
  count: CountDefect,
): string[] {
  const endpoints = new Set<string>();
  for (const slice of slices) {
    const picked = slice.ports.find((candidate) =>
      typeof port === 'number' ? candidate.port === port : candidate.name === port,
    );
    if (picked === undefined) continue;
    for (const host of slice.addresses) {
      const text = formatHostPort({ host, port: picked.port });
      if (typeof parseHostPort(text) === 'string') count('bad_address');
      else endpoints.add(text);
    }
  }
  const sorted = [...endpoints].sort();
  if (sorted.length > MAX_CLUSTER_ENDPOINTS) {
    count('too_many_endpoints');
    return sorted.slice(0, MAX_CLUSTER_ENDPOINTS);
  }
  return sorted;
}

/**
 * The slices of one Service as its list and watch hand them over: a list
 * replaces them all, an event adds, replaces or deletes one by name. A slice
 * that becomes unreadable is dropped (what it said before is no longer
 * true); past MAX_SERVICE_SLICES new ones are dropped and counted.
 */
export class ServiceSlices {
  readonly #slices = new Map<string, SliceEndpoints>();
  readonly #count: CountDefect;
  #listed = false;

  constructor(count: CountDefect) {
    this.#count = count;
  }

  /** Whether a list arrived: until then the cluster keeps the file's endpoints. */
  get listed(): boolean {
    return this.#listed;
  }

  list(items: readonly unknown[]): void {
    this.#slices.clear();
    for (const item of items) this.event('ADDED', item);
    this.#listed = true;
  }

  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: unknown): void {
    const metadata = record(object)?.['metadata'];
    const name = record(metadata)?.['name'];
    if (type === 'DELETED') {
      if (typeof name === 'string') this.#slices.delete(name);
      return;
    }
    const slice = parseSlice(object, this.#count);
    if (slice === undefined) {
      if (typeof name === 'string') this.#slices.delete(name);
    } else if (!this.#slices.has(slice.name) && this.#slices.size >= MAX_SERVICE_SLICES) {
      this.#count('too_many_slices');
    } else {
      this.#slices.set(slice.name, slice);
    }
  }

  values(): SliceEndpoints[] {
    return [...this.#slices.values()];
  }
}
