import { canonicalAddress } from '../config/net';

/** One socket line of /proc/net/{tcp,udp}{,6}. */
export interface ProcNetSocket {
  /** Canonical text form (`127.0.0.1`, `::1`, `0.0.0.0`, `::`). */
  readonly address: string;
  readonly port: number;
  /** Kernel TCP state in hex: `0A` is LISTEN; `07` (CLOSE) is an unconnected UDP socket. */
  readonly state: string;
}

/** /proc/net stores each 32-bit word in host byte order (little-endian on x64 and arm64). */
function wordBytes(hex: string): number[] {
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) return wordBytes(hex).join('.');
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) bytes.push(...wordBytes(hex.slice(w * 8, w * 8 + 8)));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonicalAddress(groups.join(':'));
}

/** Parses a /proc/net/{tcp,udp}{,6} table. */
export function parseProcNet(text: string): ProcNetSocket[] {
  const out: ProcNetSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const [addr, port] = f[1]!.split(':');
    if (!addr || !port) continue;
    out.push({ address: decodeAddress(addr), port: parseInt(port, 16), state: f[3]!.toUpperCase() });
  }
  return out;
}
