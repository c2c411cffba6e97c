// The built-in web page in headless Chromium: upload a picture, ask, watch the answer stream in and
// the box drawn from the server's grounding field (saved as a screenshot), stop an answer, ask again.
//
// The page is busy (body[data-state="streaming"]) only while an answer streams, which can be shorter
// than the time Playwright needs to look at the page on a loaded machine: the test never polls for
// that state. A recorder in the page logs, in the order they happen, every change of the state and
// every update of the answer's text; the test waits for the log to reach "idle" (which stays there)
// and then reads what happened.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const root = process.env.QWENVL_ROOT;
const url = process.env.QWENVL_URL;
// Generous: every step shares two cores with the server and whatever else runs.
const STEP_TIMEOUT = 90000;
const profile = mkdtempSync(join(tmpdir(), 'qwenvl-chromium-'));
// A fresh profile directory (Playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1000, height: 900 },
  timeout: STEP_TIMEOUT,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
browser.setDefaultTimeout(STEP_TIMEOUT);

// Runs in the page: installs the recorder (window.qwenvlLog). Entries: 'streaming' and 'idle' for the
// state the page changed to, 'text' for an update of the answer's text, 'stop' when the recorder
// pressed Stop itself (window.qwenvlStopAtText: at the first text of the answer, in the same turn of
// the page's event loop as that update, so that the answer is still streaming). What the answer
// showed then is kept as HTML: it is rendered as markdown, and its first update may be an empty
// code block (the opening ```json of a grounding answer).
function installRecorder() {
  window.qwenvlLog = [];
  window.qwenvlStopAtText = false;
  window.qwenvlHtmlAtStop = null;
  let last = document.body.dataset.state;
  const observer = new MutationObserver((records) => {
    records.forEach((r, i) => {
      if (r.type === 'attributes') {
        // The value it changed to: the next change's old value, or the current one for the last.
        const next = records.slice(i + 1).find((n) => n.type === 'attributes');
        const state = next ? next.oldValue : document.body.dataset.state;
        if (state !== last) window.qwenvlLog.push(state);
        last = state;
      } else if (r.target.nodeType === Node.ELEMENT_NODE && r.target.matches('.msg.assistant .text')) {
        window.qwenvlLog.push('text');
        if (window.qwenvlStopAtText) {
          window.qwenvlStopAtText = false;
          window.qwenvlHtmlAtStop = r.target.innerHTML;
          document.getElementById('stop').click();
          window.qwenvlLog.push('stop');
        }
      }
    });
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['data-state'],
                                    attributeOldValue: true, childList: true, subtree: true });
}

// Clicks Send and waits until the page is idle again; returns the log of that answer with repeated
// 'text' entries folded into one, and the text and status the page shows.
async function ask(page, { stopAtFirstText = false } = {}) {
  await page.evaluate((stop) => { window.qwenvlLog.length = 0; window.qwenvlStopAtText = stop; },
                      stopAtFirstText);
  await page.click('#send');
  await page.waitForFunction(() => window.qwenvlLog.includes('idle'));
  const { log, htmlAtStop } = await page.evaluate(() => ({ log: [...window.qwenvlLog],
                                                           htmlAtStop: window.qwenvlHtmlAtStop }));
  return {
    log: log.filter((e, i) => !(e === 'text' && log[i - 1] === 'text')),
    updates: log.filter((e) => e === 'text').length,
    text: await page.textContent('.msg.assistant:last-child .text'),
    html: await page.innerHTML('.msg.assistant:last-child .text'),
    status: await page.textContent('#status'),
    htmlAtStop,
  };
}

let status = 0;
let page;
const seen = [];  // what the browser saw of the server, for a failure's report
try {
  page = await browser.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  page.on('response', (r) => seen.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  page.on('requestfailed', (r) => seen.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('console', (m) => seen.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('model-name').textContent.length > 0);
  await page.evaluate(installRecorder);
  await page.setInputFiles('#file-input', `${root}/data/demo/scenes/scene15.png`);
  await page.waitForSelector('#attachments img');
  await page.click('#settings summary');  // open the settings
  await page.fill('#max-tokens', '60');
  // A picture budget the server must accept (image_url.max_pixels); 256 tokens hold the 224x224
  // scene unresized, so the box below is still the model's.
  await page.selectOption('#image-budget', '256');
  await page.fill('#prompt', 'Locate the red circle and output its bbox coordinates in JSON format.');

  // Streaming: the answer's text is updated while the page is busy, and the page is idle after it.
  const first = await ask(page);
  assert.deepEqual(first.log, ['streaming', 'text', 'idle'], JSON.stringify(first));
  assert.match(first.text, /"bbox_2d": \[\d+, \d+, \d+, \d+\]/, first.text);
  assert.match(first.status, /^\d+ tokens in \d+\.\d s$/, first.status);
  const boxes = await page.$$eval('.msg.user svg.overlay rect.box', (rs) => rs.map((r) => ({
    label: r.dataset.label, x: +r.getAttribute('x'), y: +r.getAttribute('y'),
    w: +r.getAttribute('width'), h: +r.getAttribute('height') })));
  assert.equal(boxes.length, 1, JSON.stringify(boxes));
  const [x1, y1, x2, y2] = first.text.match(/\[(\d+), (\d+), (\d+), (\d+)\]/).slice(1).map(Number);
  // A 224x224 picture is not resized, so the drawn box is the model's box.
  assert.deepEqual([boxes[0].x, boxes[0].y, boxes[0].x + boxes[0].w, boxes[0].y + boxes[0].h], [x1, y1, x2, y2]);
  assert.deepEqual(external, [], 'the page loads nothing from outside');
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });

  // Stop ends an answer while it streams: the text shown when Stop was pressed stays, nothing that
  // arrives after it is shown, and the page says so. (A new chat with the same question: its answer
  // is long enough that the server is usually still generating it when the page lets go.)
  await page.click('#clear');
  await page.setInputFiles('#file-input', `${root}/data/demo/scenes/scene15.png`);
  await page.waitForSelector('#attachments img');
  await page.fill('#max-tokens', '2000');
  await page.fill('#prompt', 'Locate the red circle and output its bbox coordinates in JSON format.');
  const stopped = await ask(page, { stopAtFirstText: true });
  assert.deepEqual(stopped.log, ['streaming', 'text', 'stop', 'idle'], JSON.stringify(stopped));
  assert.equal(stopped.status, 'stopped');
  assert.ok(stopped.htmlAtStop.length > 0, JSON.stringify(stopped));
  assert.equal(stopped.html, stopped.htmlAtStop);

  // After a stopped answer the page and the server go on: a new chat's question gets the demo
  // answer (the stopped text, whose length depends on timing, is not part of its prompt).
  await page.click('#clear');
  await page.setInputFiles('#file-input', `${root}/data/demo/scenes/scene15.png`);
  await page.waitForSelector('#attachments img');
  await page.fill('#max-tokens', '20');
  await page.fill('#prompt', 'What color is the circle?');
  const after = await ask(page);
  assert.deepEqual(after.log, ['streaming', 'text', 'idle'], JSON.stringify(after));
  assert.match(after.text, /^The circle is \w+\.$/, after.text);
  assert.match(after.status, /^\d+ tokens in \d+\.\d s$/, after.status);

  console.log(`ok - web page: streamed answer (${first.updates} updates), ${boxes.length} box drawn, ` +
              `stopped after "${stopped.htmlAtStop}", answered again (${process.env.SCREENSHOT})`);
} catch (e) {
  console.log(`not ok - web page\n  ${e.stack}`);
  if (page) {
    const shown = await page.evaluate(() => ({
      state: document.body.dataset.state, status: document.getElementById('status').textContent,
      log: window.qwenvlLog, messages: [...document.querySelectorAll('.msg')].map(
        (m) => `${m.className}: ${m.querySelector('.text').textContent}`) })).catch((err) => String(err));
    console.log(`  page: ${JSON.stringify(shown)}`);
  }
  console.log(`  browser saw:\n    ${seen.join('\n    ')}`);
  status = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(status);
