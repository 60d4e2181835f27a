import { isIP } from 'node:net';
/** `host:port` strings as used in the config: `127.0.0.1:7700`, `[::1]:7700`. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/;

/** Parses `host:port`; returns a reason string when it is not one. */
export function parseHostPort(text: string): HostPort | string {
  const match = HOST_PORT.exec(text);
  if (match === null) return `"${text}" is not host:port (IPv6 hosts in brackets: [::1]:7700)`;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) return `port ${port} is out of range 0-65535`;
  return { host, port };
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

export function httpUrl(address: HostPort): string {
  return `http://${formatHostPort(address)}`;
}

/** For addresses that already passed config validation. */
export function validHostPort(text: string): HostPort {
  const parsed = parseHostPort(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: addresses only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host.startsWith('::ffff:127.');
}
