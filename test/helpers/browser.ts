import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { NamespaceRole, Topology } from '@sluice/testbed';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** Debian's Chromium (`apt-get install chromium`; test/ensure-deps.js installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium running inside the namespace `role` of `topo`, so it
 * reaches what listens on that namespace's loopback (Sluice's control API in
 * the gateway). puppeteer starts a small wrapper that enters the namespace
 * with `ip netns exec` and `exec`s Chromium with puppeteer's arguments, so the
 * process puppeteer watches and kills is Chromium itself, and the DevTools
 * pipe (fds 3 and 4) passes through unchanged.
 */
export async function launchBrowserIn(topo: Topology, role: NamespaceRole, dir: string): Promise<Browser> {
  const wrapper = path.join(dir, `chromium-in-${role}.sh`);
  writeFileSync(wrapper, `#!/bin/sh\nPATH=/usr/sbin:/sbin:$PATH exec ip netns exec '${topo.names[role]}' ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return puppeteer.launch({
    executablePath: wrapper,
    headless: true,
    // DevTools over the inherited pipe fds: a debugging port would be on the namespace's loopback, out of our reach.
    pipe: true,
    // Root in a test namespace: Chromium's sandbox needs user namespaces it cannot have there.
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    defaultViewport: { width: 1280, height: 760 },
    userDataDir: path.join(dir, `chromium-profile-${role}`),
  });
}

/** Where tests save what a person would want to look at (screenshots): `SLUICE_TEST_OUTPUT`, else test/output/<suite>. */
export function testOutputDir(suite: string): string {
  const dir = path.join(process.env.SLUICE_TEST_OUTPUT ?? path.resolve(__dirname, '..', '..', 'output'), suite);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A screenshot of the page as `<dir>/<name>.png`; returns its path. */
export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png` });
  return file;
}

/** The text of every element matching `selector`. */
export function texts(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => els.map((e) => e.textContent ?? ''));
}
