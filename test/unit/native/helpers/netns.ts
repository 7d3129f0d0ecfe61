import { Namespace } from '@sluice/testbed';
import { runScenario } from './scenario-client';

export { addLocalTproxy as addTproxy, addUplink } from '@sluice/testbed';

let serial = 0;

/**
 * A throwaway network namespace from the test bed, named
 * `snat-<pid>-<tag><n>`, that can also run a scenario of `scenarios.ts`
 * inside. All test traffic and firewall rules live inside it; the host is
 * never touched.
 */
export class Netns extends Namespace {
  static create(tag: string): Promise<Netns> {
    return new Netns(`snat-${process.pid}-${tag}${++serial}`).create();
  }

  /** The command prefix that runs something inside the namespace. */
  get prefix(): string[] {
    return [...this.execArgv];
  }

  /** Runs a scenario of `scenarios.ts` in a child node inside the namespace. */
  scenario<T>(name: string, args: unknown = {}): Promise<T> {
    return runScenario<T>(this.prefix, name, args);
  }
}
