import { spawnRunner, type CommandRunner } from './apply';
import { OFFLOAD_COUNTERS } from './offload-render';

/** Packets and bytes of one direction. */
export interface PacketBytes {
  readonly packets: number;
  readonly bytes: number;
}

/** What the kernel forwarded for `firewall.offload` since the ruleset was loaded: up (client to remote) and down. */
export interface OffloadTotals {
  readonly up: PacketBytes;
  readonly down: PacketBytes;
}

/** The offload counters could not be read: no table, no nft, no permission, or output nft was not what was expected. */
export class OffloadCountersError extends Error {
  readonly code = 'ERR_OFFLOAD_COUNTERS';
  constructor(message: string) {
    super(message);
    this.name = 'OffloadCountersError';
  }
}

const ARGV = ['nft', '-j', 'list', 'counters', 'table', 'inet', 'sluice'] as const;

/**
 * The two offload counters out of `nft -j list counters table inet sluice`.
 *
 * @throws {OffloadCountersError} when the text is not nft's JSON or lacks a counter.
 */
export function parseOffloadCounters(json: string): OffloadTotals {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new OffloadCountersError(`${ARGV.join(' ')} printed no JSON`);
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) throw new OffloadCountersError(`${ARGV.join(' ')} printed no "nftables" list`);
  const find = (name: string): PacketBytes => {
    for (const item of items as { counter?: { name?: unknown; packets?: unknown; bytes?: unknown } }[]) {
      const c = item.counter;
      if (c && c.name === name && typeof c.packets === 'number' && typeof c.bytes === 'number') return { packets: c.packets, bytes: c.bytes };
    }
    throw new OffloadCountersError(`table inet sluice has no counter ${name}: load a ruleset rendered with firewall.offload: true (sluice rules --apply)`);
  };
  return { up: find(OFFLOAD_COUNTERS.up), down: find(OFFLOAD_COUNTERS.down) };
}

/**
 * Reads the offload counters from the kernel (`nft -j list counters`; needs
 * CAP_NET_ADMIN, which a TPROXY Sluice has).
 *
 * @throws {OffloadCountersError} naming what to do when nft fails or the counters are missing.
 */
export async function readOffloadCounters(run: CommandRunner = spawnRunner): Promise<OffloadTotals> {
  const r = await run(ARGV);
  if (r.code !== 0) {
    const why = r.stderr.trim() || `exit code ${r.code}`;
    const hint = /No such file/i.test(why)
      ? 'the table is not loaded: apply the ruleset with sluice rules --apply'
      : r.code === 127
        ? 'nft (nftables) is not installed'
        : /Operation not permitted|Permission denied/i.test(why)
          ? 'reading counters needs CAP_NET_ADMIN'
          : 'see the nft message';
    throw new OffloadCountersError(`${ARGV.join(' ')} failed (${why}): ${hint}`);
  }
  return parseOffloadCounters(r.stdout);
}
