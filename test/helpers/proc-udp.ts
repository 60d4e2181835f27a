/**
 * This machine's UDP sockets as the kernel lists them (/proc/net/udp and
 * udp6): the local port of each, and the datagrams the kernel dropped at it
 * because its receive buffer was full (the last column).
 */
import { readFileSync } from 'node:fs';

export interface UdpSocketRow {
  readonly port: number;
  readonly drops: number;
}

export function udpSockets(): UdpSocketRow[] {
  const rows: UdpSocketRow[] = [];
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const drops = Number(fields[fields.length - 1]);
      if (local === undefined || !Number.isFinite(drops) || fields.length < 13) continue;
      rows.push({ port: Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16), drops });
    }
  }
  return rows;
}
