import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { startControlFixture, type ControlFixture } from './control-fixture';

describe('control: a /logs reader that stops reading gets lines dropped, not buffered without end', function () {
  let f: ControlFixture;
  before(async function () {
    f = await startControlFixture();
  });
  after(async function () {
    await f.close();
  });

  it('lines written while the client does not read are dropped past the backlog bound; a later line still arrives', async function () {
    const req = http.get(`${f.base}/logs?level=info`, { headers: { authorization: `Bearer ${f.secret}` } });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    assert.equal(res.statusCode, 200);
    // The client stops reading: what the server writes piles up in the kernel's buffers, then in its own.
    res.pause();
    const FILLERS = 20_000;
    const pad = 'x'.repeat(1000);
    // 20 MB of lines: far more than loopback socket buffers and the 1 MiB bound together.
    for (let i = 0; i < FILLERS; i++) {
      f.sluice.logger.info({ pad, i }, 'filler');
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
    }
    let fillers = 0;
    let marker = false;
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const l of lines) {
        if (l.includes('"payload":"filler')) fillers++;
        if (l.includes('"payload":"marker')) marker = true;
      }
    });
    res.resume();
    // Once the backlog drained, new lines flow again: wait for one.
    while (!marker) {
      f.sluice.logger.info('marker');
      await new Promise((r) => setTimeout(r, 50));
    }
    req.destroy();
    assert.ok(fillers > 0, 'lines written before the backlog filled arrive');
    assert.ok(fillers < FILLERS, `lines past the backlog bound are dropped: ${fillers} of ${FILLERS} arrived`);
  });
});
