import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { FakeIpEntries, FakeIpRange } from './fake-ip-pool';

const SAVE_DELAY_MS = 1000;

/** The file's shape: each range's entries, oldest first, by CIDR. */
interface StoreFile {
  readonly version: 1;
  readonly ranges: Record<string, FakeIpEntries>;
}

/**
 * Keeps the fake-IP pools in `dns.fake_ip_store` across restarts, so clients
 * still holding fake addresses keep working. Written at most once a second
 * after a change (and at close), through a temporary file renamed into place,
 * so a crash leaves the previous version whole.
 */
export class FakeIpStore {
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly ranges: readonly FakeIpRange[],
    private readonly logger: Logger,
  ) {}

  /** Fills the ranges from the file; a missing file is an empty store, an unreadable one is logged and ignored. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err, path: this.path }, 'cannot read the fake-IP store; starting empty');
      return;
    }
    try {
      const file = JSON.parse(text) as Partial<StoreFile>;
      if (file.version !== 1 || typeof file.ranges !== 'object' || file.ranges === null) throw new Error('not a version 1 store');
      for (const r of this.ranges) {
        const entries = file.ranges[r.cidr];
        if (Array.isArray(entries)) r.restore(entries.filter((e) => Array.isArray(e) && e.length === 2));
      }
      this.logger.info({ path: this.path, entries: this.ranges.reduce((n, r) => n + r.size, 0) }, 'fake-IP store loaded');
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'the fake-IP store is not valid; starting empty');
    }
  }

  /** Schedules a save. */
  changed(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.save();
    }, SAVE_DELAY_MS);
    this.timer.unref();
  }

  /** Writes now (after any save in progress). */
  save(): Promise<void> {
    this.saving = this.saving.then(async () => {
      const file: StoreFile = { version: 1, ranges: Object.fromEntries(this.ranges.map((r) => [r.cidr, r.entries()])) };
      const tmp = `${this.path}.tmp`;
      try {
        await mkdir(dirname(this.path), { recursive: true });
        await writeFile(tmp, JSON.stringify(file));
        await rename(tmp, this.path);
      } catch (err) {
        this.logger.warn({ err, path: this.path }, 'cannot write the fake-IP store');
      }
    });
    return this.saving;
  }

  /** Writes any pending change and stops the timer. */
  async close(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.save();
    }
    await this.saving;
  }
}
