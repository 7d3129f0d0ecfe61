import { parseConfig, renderFirewall, type CommandResult, type DoctorContext } from '@sluice/core';

/** Seeds for a fake {@link DoctorContext}: command outputs by argv (joined by spaces), files, directories. */
export interface FakeSeeds {
  readonly config?: string;
  readonly commands?: Record<string, Partial<CommandResult>>;
  readonly files?: Record<string, string>;
  readonly dirs?: Record<string, string[]>;
}

/** A context whose commands and files are the seeds; every command run is recorded in `calls`. */
export function fakeContext(seeds: FakeSeeds): DoctorContext & { calls: string[] } {
  const config = parseConfig(seeds.config ?? BASE_CONFIG, { baseDir: '/etc/sluice' });
  const calls: string[] = [];
  return {
    config,
    configPath: '/etc/sluice/config.yaml',
    rendered: renderFirewall(config),
    calls,
    async run(argv) {
      // Commands inside a scratch namespace are looked up without the `ip netns exec NAME` prefix.
      const inner = argv[0] === 'ip' && argv[1] === 'netns' && argv[2] === 'exec' ? argv.slice(4) : argv;
      const key = inner.join(' ');
      calls.push(argv.join(' '));
      const seeded = seeds.commands?.[key];
      if (seeded) return { code: 0, stdout: '', stderr: '', ...seeded };
      if (argv[0] === 'ip' && argv[1] === 'netns') return { code: 0, stdout: '', stderr: '' };
      return { code: 127, stdout: '', stderr: `${argv[0]}: not found` };
    },
    readFile: async (path) => seeds.files?.[path],
    listDir: async (path) => seeds.dirs?.[path] ?? [],
    pid: 4242,
    execPath: '/usr/bin/node',
    spawn: () => {
      throw new Error('no processes in unit tests');
    },
  };
}

/** Gateway mode, an IPv4 and an IPv6 inbound, direct with mark 0x2. */
export const BASE_CONFIG = `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002 }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
route: { final: direct }
`;
