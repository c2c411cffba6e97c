// The built-in web page in headless Chromium: upload a picture, ask, watch the answer stream in and
// the box drawn from the server's grounding field; saves a screenshot.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const root = process.env.QWENVL_ROOT;
const profile = mkdtempSync(join(tmpdir(), 'qwenvl-chromium-'));
// A fresh profile directory (Playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1000, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let status = 0;
try {
  const page = await browser.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(process.env.QWENVL_URL)) external.push(r.url()); });
  await page.goto(process.env.QWENVL_URL);
  await page.waitForFunction(() => document.getElementById('model-name').textContent.length > 0);
  await page.setInputFiles('#file-input', `${root}/data/demo/scenes/scene15.png`);
  await page.waitForSelector('#attachments img');
  await page.click('#settings summary');  // open the settings
  await page.fill('#max-tokens', '60');
  await page.fill('#prompt', 'Locate the red circle and output its bbox coordinates in JSON format.');
  await page.click('#send');
  // Streaming: the answer grows while the page is busy.
  await page.waitForFunction(() => document.body.dataset.state === 'streaming');
  await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60000 });
  const answer = await page.textContent('.msg.assistant .text');
  assert.match(answer, /"bbox_2d": \[\d+, \d+, \d+, \d+\]/, answer);
  const boxes = await page.$$eval('.msg.user svg.overlay rect.box', (rs) => rs.map((r) => ({
    label: r.dataset.label, x: +r.getAttribute('x'), y: +r.getAttribute('y'),
    w: +r.getAttribute('width'), h: +r.getAttribute('height') })));
  assert.equal(boxes.length, 1, JSON.stringify(boxes));
  const [x1, y1, x2, y2] = answer.match(/\[(\d+), (\d+), (\d+), (\d+)\]/).slice(1).map(Number);
  // A 224x224 picture is not resized, so the drawn box is the model's box.
  assert.deepEqual([boxes[0].x, boxes[0].y, boxes[0].x + boxes[0].w, boxes[0].y + boxes[0].h], [x1, y1, x2, y2]);
  assert.match(await page.textContent('#status'), /tokens in/);
  assert.deepEqual(external, [], 'the page loads nothing from outside');
  // The stop button aborts a running answer.
  await page.fill('#max-tokens', '2000');
  await page.fill('#prompt', 'What shapes are in this image?');
  // The demo model answers in a few tokens: press Stop in the same task as Send so that the abort
  // always lands while the request runs.
  await page.evaluate(() => { document.getElementById('send').click(); document.getElementById('stop').click(); });
  await page.waitForFunction(() => document.body.dataset.state === 'idle');
  assert.equal(await page.textContent('#status'), 'stopped');
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(`ok - web page: streamed answer, ${boxes.length} box drawn (${process.env.SCREENSHOT})`);
} catch (e) {
  console.log(`not ok - web page\n  ${e.stack}`);
  status = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(status);
