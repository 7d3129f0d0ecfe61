import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { SluiceConfig } from '../config/types';
import { spawnRunner } from '../firewall/apply';
import { renderFirewall } from '../firewall/render';
import type { DoctorContext, HelperProcess } from './types';

function spawnHelper(argv: readonly string[]): HelperProcess {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (err) => {
      stderr += err.message;
      resolve();
    });
  });
  return {
    firstLine: (timeoutMs) =>
      new Promise((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`${argv[0]}: no output within ${timeoutMs} ms`)), timeoutMs);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const nl = out.indexOf('\n');
          if (nl >= 0) {
            clearTimeout(timer);
            resolve(out.slice(0, nl));
          }
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`exited before it was ready: ${stderr.trim() || 'no output'}`));
        });
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The context for checking this machine: real commands, files and processes. */
export function systemContext(config: SluiceConfig, configPath: string): DoctorContext {
  return {
    config,
    configPath,
    rendered: renderFirewall(config),
    run: spawnRunner,
    readFile: (path) => readFile(path, 'utf8').catch(() => undefined),
    listDir: (path) => readdir(path).catch(() => []),
    pid: process.pid,
    execPath: process.execPath,
    spawn: spawnHelper,
  };
}
