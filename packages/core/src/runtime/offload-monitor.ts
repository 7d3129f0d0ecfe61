import type { Logger } from 'pino';
import { readOffloadCounters, type OffloadTotals } from '../firewall/offload-counters';

/**
 * Reports what the kernel forwarded under `firewall.offload`, next to the
 * flows Sluice logs itself: those flows never reach Sluice, so their only
 * record is the nftables counters. It checks once at start that the counters
 * can be read (warning, with what to do, when they cannot: Sluice keeps
 * serving), and logs `offload totals` at stop.
 */
export class OffloadMonitor {
  constructor(
    private readonly logger: Logger,
    private readonly read: () => Promise<OffloadTotals> = () => readOffloadCounters(),
  ) {}

  /** Reads the counters once; a failure is a warning, not a failed start (the ruleset may be applied later). */
  async check(): Promise<OffloadTotals | undefined> {
    try {
      return await this.read();
    } catch (err) {
      this.logger.warn({ err }, 'firewall.offload is on, but the offload counters cannot be read; offloaded flows go uncounted until they can');
      return undefined;
    }
  }

  /** Logs `offload totals` (packets and bytes each way since the ruleset was loaded); a warning when unreadable. */
  async logTotals(): Promise<OffloadTotals | undefined> {
    try {
      const totals = await this.read();
      this.logger.info({ up: totals.up, down: totals.down }, 'offload totals');
      return totals;
    } catch (err) {
      this.logger.warn({ err }, 'offload totals unavailable');
      return undefined;
    }
  }
}
