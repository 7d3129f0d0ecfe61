// Run by mock-binding.test.ts in a fresh process (as nobody when the suite runs as root).
import 'reflect-metadata';
import { runWholeSluice } from './whole-sluice';

runWholeSluice().then(
  (r) => {
    r.addons = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
    process.stdout.write(JSON.stringify(r));
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
