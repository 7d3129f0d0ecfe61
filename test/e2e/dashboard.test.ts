/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import type { Browser, Page } from 'puppeteer-core';
import { launchBrowserIn, screenshot, testOutputDir, texts } from '../helpers/browser';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHttpServer, type ProbeServer } from '../helpers/servers';
import { writeFile } from '../helpers/sluice';

/**
 * The built-in dashboard in a real browser: headless Chromium in the gateway
 * namespace opens `/ui/` of a Sluice that relays real traffic from the client
 * namespace, and the test checks each view against what that traffic did.
 * Screenshots of every view go to test/output/dashboard/ (docs/images/ has
 * copies for the README and docs/control.md).
 */

const SECRET = 'dashboard-secret';
const API_PORT = 19091;
const UI = `http://127.0.0.1:${API_PORT}/ui/`;
/** The remote's port of the long download. */
const STREAM_PORT = 18080;

function config(httpPort: number): string {
  return `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: direct-b, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
  - { tag: pick, type: selector, outbounds: [direct, direct-b], default: direct }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
    - { name: web, dst_port: [${STREAM_PORT}, ${httpPort}], outbound: pick }
  final: direct
timeouts: { udp_idle_ms: 1000, drain_ms: 1000 }
control: { listen: "127.0.0.1:${API_PORT}", secret: ${SECRET}, ui: true }
`;
}

describe('e2e: the built-in dashboard in headless Chromium, with real traffic', function () {
  this.timeout(120_000);
  const env = useE2E({ tag: 'ui', sluice: false });
  const out = testOutputDir('dashboard');
  let http: ProbeServer;
  let browser: Browser | undefined;
  let page: Page;
  let server: ChildProcess | undefined;
  let stream: ChildProcess | undefined;
  let streamEnded: Promise<number | null>;
  /** Requests the page made to anywhere but the control server. */
  const elsewhere: string[] = [];

  /** Switches to a tab by its link (the page keeps the view in the URL's hash). */
  async function openTab(view: string): Promise<void> {
    await page.click(`#tabs button[data-view="${view}"]`);
    await page.waitForSelector(`#view-${view}:not([hidden])`);
  }

  before(async function () {
    http = await startHttpServer(env.topo);
    const sluice = await env.startSluice(writeFile(env.tmp, 'dashboard.yaml', config(http.port)));
    await sluice.waitFor((l) => l.msg === 'control API listening', 10_000, 'the control API');
    browser = await launchBrowserIn(env.topo, 'gw', env.tmp);
    page = await browser.newPage();
    // The page may talk to its own server only (checked by the last test).
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${API_PORT}/`)) elsewhere.push(r.url());
    });
  });
  after(async function () {
    stream?.kill('SIGKILL');
    server?.kill('SIGKILL');
    await browser?.close();
  });

  it('asks for the secret, then loads with it', async function () {
    await page.goto(UI);
    await page.waitForSelector('#login:not([hidden])');
    await page.type('#secret', 'wrong');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-error')?.textContent !== '');
    await page.$eval('#secret', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#secret', SECRET);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#app:not([hidden])');
    assert.match(await page.$eval('#status', (e) => e.textContent ?? ''), /^sluice /);
    // Kept for the next visit.
    assert.equal(await page.evaluate(() => localStorage.getItem('sluice.secret')), SECRET);
  });

  it('shows a running download in the connections table with its host, rule and outbound', async function () {
    // A server that sends 64 KiB every 100 ms for as long as the client stays.
    server = env.topo.spawn('remote', 'socat', ['-u', 'SYSTEM:while true; do head -c 65536 /dev/zero; sleep 0.1; done', `TCP-LISTEN:${STREAM_PORT},reuseaddr`], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    stream = env.topo.spawn('client', 'socat', ['-u', `TCP4:${A.remote.v4}:${STREAM_PORT}`, 'OPEN:/dev/null'], { stdio: ['ignore', 'ignore', 'pipe'] });
    streamEnded = new Promise((resolve) => stream!.once('exit', (code) => resolve(code)));
    const host = `${A.remote.v4}:${STREAM_PORT}`;
    await page.waitForFunction((h) => [...document.querySelectorAll('#conn-table tbody td.host')].some((td) => td.textContent === h), { timeout: 10_000 }, host);
    const row = await page.$$eval('#conn-table tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const mine = row.find((cells) => cells[0] === host);
    assert.ok(mine, JSON.stringify(row));
    assert.equal(mine[1], 'tcp');
    assert.match(mine[2]!, new RegExp(`^${A.client.v4.replace(/\./g, '\\.')}:\\d+$`));
    assert.match(mine[3]!, /^DstPort\(/);
    assert.equal(mine[4], 'pick → direct');
    // The filter: by outbound it stays, by another host it goes.
    await page.type('#conn-filter', 'direct');
    assert.deepEqual(await texts(page, '#conn-table tbody td.host'), [host]);
    await page.$eval('#conn-filter', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#conn-filter', '203.0.113.');
    await page.waitForFunction(() => document.querySelectorAll('#conn-table tbody tr').length === 0);
    await page.$eval('#conn-filter', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#conn-filter', A.remote.v4);
    await page.waitForFunction(() => document.querySelectorAll('#conn-table tbody tr').length === 1);
    await page.$eval('#conn-filter', (e) => {
      (e as HTMLInputElement).value = '';
      e.dispatchEvent(new Event('input'));
    });
    await screenshot(page, out, 'dashboard-connections');
  });

  it('charts the download: the traffic view shows non-zero bytes per second', async function () {
    await openTab('traffic');
    await page.waitForFunction(() => Number(document.getElementById('traffic-peak')?.dataset.down ?? 0) > 0, { timeout: 10_000 });
    await page.waitForSelector('#traffic-chart canvas');
    // A few seconds of samples make a chart worth a screenshot.
    await page.waitForFunction(() => Number(document.getElementById('traffic-chart')?.dataset.samples ?? 0) >= 6, { timeout: 15_000 });
    const down = await page.$eval('#traffic-peak', (e) => Number((e as HTMLElement).dataset.down));
    assert.ok(down > 0, `peak download per second: ${down}`);
    await screenshot(page, out, 'dashboard-traffic');
  });

  it('closing the connection from the page resets it on the client', async function () {
    await openTab('connections');
    const host = `${A.remote.v4}:${STREAM_PORT}`;
    await page.waitForFunction((h) => [...document.querySelectorAll('#conn-table tbody td.host')].some((td) => td.textContent === h), {}, host);
    const id = await page.$$eval('#conn-table tbody tr', (rows, h) => rows.find((r) => r.querySelector('td.host')?.textContent === h)?.getAttribute('data-id') ?? '', host);
    assert.notEqual(id, '');
    await page.click(`#conn-table button[data-close="${id}"]`);
    const code = await Promise.race([streamEnded, new Promise<string>((r) => setTimeout(() => r('still running'), 5000))]);
    assert.notEqual(code, 'still running', 'the client should see the flow reset');
    const line = await env.sluice!.waitForFlow((f) => f.dst === host, 5000, 'the closed flow');
    assert.match(String(line.error), /closed through the control API/);
    assert.equal(line.chain, 'pick > direct');
    // And the row goes.
    await page.waitForFunction((h) => ![...document.querySelectorAll('#conn-table tbody td.host')].some((td) => td.textContent === h), { timeout: 5000 }, host);
  });

  it('selecting a member of a selector group changes the next flow\'s outbound; a latency test shows a delay', async function () {
    await openTab('proxies');
    await page.waitForSelector('.group[data-name="pick"] .card[data-select="direct-b"]');
    assert.equal(await page.$eval('.group[data-name="pick"] .now', (e) => e.textContent), 'now: direct');
    await page.click('.group[data-name="pick"] .card[data-select="direct-b"]');
    await page.waitForFunction(() => document.querySelector('.group[data-name="pick"] .now')?.textContent === 'now: direct-b', { timeout: 5000 });
    const r = await curl(env.topo, `http://${A.remote.v4}:${http.port}/after-select`);
    assert.equal(r.exitCode, 0, describeCurl(r));
    const flow = await env.sluice!.waitForFlow((f) => f.dst === `${A.remote.v4}:${http.port}`, 5000, 'the flow after the selection');
    assert.equal(flow.chain, 'pick > direct-b');

    // Sluice measures, the page shows: a test URL on the remote's web server.
    await page.$eval('#delay-url', (e, url) => {
      (e as HTMLInputElement).value = url;
      e.dispatchEvent(new Event('change'));
    }, `http://${A.remote.v4}:${http.port}/generate_204`);
    await page.click('#outbounds .card[data-name="direct"] button[data-delay]');
    await page.waitForFunction(() => /^\d+ ms$/.test(document.querySelector('#outbounds .card[data-name="direct"] .delay')?.textContent ?? ''), { timeout: 10_000 });
    await screenshot(page, out, 'dashboard-proxies');
  });

  it('the rules view shows each rule with the flows it matched', async function () {
    await openTab('rules');
    // rules[1] (`web`) matched the download and the request after the selection.
    await page.waitForFunction(() => document.querySelectorAll('#rules-table tbody tr').length === 3, { timeout: 5000 });
    const rows = await page.$$eval('#rules-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    assert.deepEqual(
      rows.map((r) => [r[1], r[3], r[4]]),
      [
        ['IPCIDR', 'deny', '0'],
        ['DstPort', 'pick', '2'],
        ['Match', 'direct', '0'],
      ],
    );
    await screenshot(page, out, 'dashboard-rules');
  });

  it('the log view streams Sluice\'s lines as they are written', async function () {
    await openTab('logs');
    // The page has listened since it loaded: the flows above logged their access lines.
    const closed = `--> ${A.remote.v4}:${http.port} match web using pick`;
    await page.waitForFunction((want) => [...document.querySelectorAll('#log-lines li')].some((li) => li.textContent?.includes(want)), { timeout: 5000 }, closed);
    const lines = await texts(page, '#log-lines li');
    assert.ok(lines.some((l) => l.includes(`--> ${A.remote.v4}:${STREAM_PORT} match web using pick`) && l.includes('closed through the control API')), lines.join('\n'));
    await screenshot(page, out, 'dashboard-logs');
  });

  it('fits a phone: no sideways scrolling, tables become labelled blocks', async function () {
    await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
    try {
      for (const view of ['rules', 'proxies', 'logs', 'traffic', 'connections']) {
        await openTab(view);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${view}: the page is ${overflow}px wider than the phone's screen`);
      }
      await openTab('rules');
      assert.equal(await page.$eval('#rules-table thead', (e) => getComputedStyle(e).display), 'none');
      assert.equal(await page.$eval('#rules-table tbody tr', (e) => getComputedStyle(e).display), 'block');
      await screenshot(page, out, 'dashboard-phone');
    } finally {
      await page.setViewport({ width: 1280, height: 760 });
    }
  });

  it('made no request to anywhere but the control server', function () {
    assert.deepEqual(elsewhere, []);
  });
});
