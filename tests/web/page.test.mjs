// The web page's own features in headless Chromium, against the real server for the page and
// /v1/models and a stand-in for /v1/chat/completions (Playwright's route interception), so that each
// answer, its progress comments and what the page sent are known exactly:
//   - progress comments (": progress {...}") shown while a picture is encoded and the prompt read;
//     malformed ones ignored;
//   - the answer rendered as markdown, an injected <script>, onerror handler and javascript: link
//     not run (DOMPurify);
//   - the system prompt and the picture budget (image_url.max_pixels) sent;
//   - the conversation kept across a reload and continued with its history; new chat; delete;
//   - a picture too large for the browser's storage replaced by a placeholder after a reload;
//   - the icon, linked and at /favicon.ico.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const root = process.env.QWENVL_ROOT;
const url = process.env.QWENVL_URL;
const STEP_TIMEOUT = 60000;
const profile = mkdtempSync(join(tmpdir(), 'qwenvl-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1100, height: 900 },
  timeout: STEP_TIMEOUT,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
browser.setDefaultTimeout(STEP_TIMEOUT);

// The stand-in server: each request takes the next planned answer and is recorded.
const sent = [];
const planned = [];
function sseBody({ progress = [], pieces = [] }) {
  let body = ': keep-alive\n\n';
  for (const p of progress) body += `${typeof p === 'string' ? p : `: progress ${JSON.stringify(p)}`}\n\n`;
  for (const content of pieces) {
    body += `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })}\n\n`;
  }
  body += `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 90, completion_tokens: pieces.length, total_tokens: 90 + pieces.length } })}\n\n`;
  return `${body}data: [DONE]\n\n`;
}
await browser.route('**/v1/chat/completions', async (route) => {
  sent.push(JSON.parse(route.request().postData()));
  const answer = planned.shift();
  if (!answer) { await route.fulfill({ status: 500, body: '{"error":{"message":"no answer planned"}}' }); return; }
  await route.fulfill({ status: 200, headers: { 'Content-Type': 'text/event-stream' }, body: sseBody(answer) });
});

// Runs in the page: every text #status shows, in order (each setStatus replaces its text node).
function recordStatus() {
  window.statusLog = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) window.statusLog.push(n.textContent);
  }).observe(document.getElementById('status'), { childList: true });
}

async function open(page) {
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('model-name').textContent.length > 0);
  await page.evaluate(recordStatus);
}

async function ask(page, prompt, answer) {
  planned.push(answer);
  const before = sent.length;
  await page.fill('#prompt', prompt);
  await page.click('#send');
  await page.waitForFunction(() => /tokens in|error/.test(document.getElementById('status').textContent));
  assert.equal(sent.length, before + 1, 'one request per question');
  return sent[sent.length - 1];
}

const answerText = (page) => page.$$eval('.msg.assistant .text', (els) => els.map((e) => e.innerHTML));

let status = 0;
let page;
const seen = [];
try {
  page = await browser.newPage();
  page.on('console', (m) => seen.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => seen.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await open(page);

  // The icon: linked from the page and served at /favicon.ico for the tools that ask there.
  assert.equal(await page.getAttribute('link[rel="icon"]', 'href'), '/favicon.svg');
  // (Fetched from here: with request interception on, Chromium fails a page's fetch of /favicon.ico.)
  for (const path of ['/favicon.svg', '/favicon.ico']) {
    const r = await fetch(new URL(path, url));
    const icon = { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
    assert.equal(icon.status, 200);
    assert.equal(icon.type, 'image/svg+xml');
    assert.match(icon.text, /^<svg /);
  }

  // First question: system prompt, budget, a picture; progress comments before the answer.
  await page.click('#settings summary');
  await page.fill('#system', 'Answer briefly.');
  await page.selectOption('#image-budget', '1024');
  await page.setInputFiles('#file-input', `${root}/data/demo/scenes/scene15.png`);
  await page.waitForSelector('#attachments img');
  const first = await ask(page, 'What is in the picture?', {
    progress: [
      { phase: 'vision', done: 3, total: 8, elapsed_ms: 1234, eta_ms: 2000 },
      ': progress {not json',                                            // malformed: ignored
      { phase: 'vision', done: 9, total: 8, elapsed_ms: 1300, eta_ms: 0 },  // done > total: ignored
      { phase: 'audio', done: 1, total: 2 },                               // unknown phase: ignored
      { phase: 'vision', done: -1, total: 8 },                             // negative: ignored
      { phase: 'vision', done: '4', total: 8 },                            // not a number: ignored
      `: progress {"phase":"vision","done":5,"total":8,"pad":"${'x'.repeat(200000)}"`,  // cut off
      { phase: 'vision', done: 6, total: 8, eta_ms: 1e12 },                // estimate past a day: left out
      { phase: 'vision', done: 8, total: 8, elapsed_ms: 3300, eta_ms: 0 },
      { phase: 'prefill', done: 40, total: 92, elapsed_ms: 3500, eta_ms: 4400 },
    ],
    pieces: ['Three **shapes**', ' and `code`:\n\n- one\n- two\n\n',
             '<img src="x" onerror="window.pwned = 1"><script>window.pwned = 2</script>',
             '[click](javascript:window.pwned=3) <a href="javascript:window.pwned=4" id="evil">x</a>'],
  });
  assert.deepEqual(first.messages[0], { role: 'system', content: 'Answer briefly.' });
  assert.equal(first.messages[1].role, 'user');
  const [image, text] = first.messages[1].content;
  assert.equal(image.type, 'image_url');
  assert.equal(image.image_url.max_pixels, 1024 * 28 * 28);
  assert.match(image.image_url.url, /^data:image\/png;base64,/);
  assert.deepEqual(text, { type: 'text', text: 'What is in the picture?' });

  const statuses = await page.evaluate(() => window.statusLog);
  const progressShown = statuses.filter((s) => /^(encoding|reading)/.test(s));
  assert.deepEqual(progressShown, ['encoding picture 3/8 · ~2 s left', 'encoding picture 6/8', 'encoding picture 8/8',
                                   'reading prompt 40/92 · ~4 s left'], JSON.stringify(statuses));
  assert.ok(statuses.indexOf('generating…') > statuses.indexOf('reading prompt 40/92 · ~4 s left'), JSON.stringify(statuses));
  assert.match(statuses.at(-1), /^4 tokens in \d+\.\d s$/);

  // Markdown rendered; nothing of the injection runs or stays.
  const rendered = await page.$eval('.msg.assistant .text', (e) => ({
    strong: e.querySelector('strong')?.textContent, code: e.querySelector('code')?.textContent,
    items: [...e.querySelectorAll('li')].map((li) => li.textContent),
    dangerous: e.querySelectorAll('script, img, [onerror]').length,
    hrefs: [...e.querySelectorAll('a')].map((a) => a.getAttribute('href')),
  }));
  assert.deepEqual({ strong: rendered.strong, code: rendered.code, items: rendered.items, dangerous: rendered.dangerous },
                   { strong: 'shapes', code: 'code', items: ['one', 'two'], dangerous: 0 }, JSON.stringify(rendered));
  assert.ok(rendered.hrefs.every((h) => h === null || !/^\s*javascript:/i.test(h)), JSON.stringify(rendered.hrefs));
  for (const a of await page.$$('.msg.assistant .text a')) await a.click();
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'injected code ran');

  // A reload finds the conversation: listed, shown (picture, rendered answer), system prompt back.
  await open(page);
  assert.deepEqual(await page.$$eval('#conversations button.open', (bs) => bs.map((b) => b.textContent)),
                   ['What is in the picture?']);
  assert.equal(await page.$$eval('.msg.user .figure img', (is) => is.length), 1);
  assert.equal(await page.$eval('.msg.assistant .text strong', (e) => e.textContent), 'shapes');
  assert.equal(await page.inputValue('#system'), 'Answer briefly.');
  // ... and goes on with its history: the earlier turns as sent, the answer as the raw markdown.
  const second = await ask(page, 'And the colours?', { pieces: ['Red and blue.'] });
  assert.equal(second.messages.length, 4, JSON.stringify(second.messages.map((m) => m.role)));
  assert.deepEqual(second.messages[1], first.messages[1]);
  assert.equal(second.messages[2].role, 'assistant');
  assert.match(second.messages[2].content, /^Three \*\*shapes\*\* and `code`:/);
  assert.deepEqual(second.messages[3].content, [{ type: 'text', text: 'And the colours?' }]);

  // A long answer (rendered at intervals past 4096 characters) is shown whole at its end.
  const paragraphs = Array.from({ length: 60 }, (_, i) => `Paragraph **${i}** ${'word '.repeat(30)}\n\n`);
  await ask(page, 'Long', { pieces: paragraphs });
  assert.deepEqual(await page.$$eval('.msg.assistant:last-child .text strong', (ss) => ss.map((e) => e.textContent)),
                   paragraphs.map((_, i) => String(i)));

  // New chat: empty page, no system prompt, the old conversation still listed.
  await page.click('#clear');
  assert.equal(await page.$$eval('.msg', (ms) => ms.length), 0);
  assert.equal(await page.inputValue('#system'), '');
  const third = await ask(page, 'Hello', { pieces: ['Hi.'] });
  assert.deepEqual(third.messages, [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }]);
  assert.deepEqual(await page.$$eval('#conversations button.open', (bs) => bs.map((b) => b.textContent)),
                   ['Hello', 'What is in the picture?']);

  // A picture too large for the browser's storage (a 600 KiB file: its data URL is over 512 KiB):
  // kept for this page, a placeholder after a reload, and sent as a short text part from then on.
  await page.click('#clear');
  await page.setInputFiles('#file-input', { name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(600 * 1024, 7) });
  await page.waitForSelector('#attachments img');
  const big = await ask(page, 'Big one', { pieces: ['Big.'] });
  assert.ok(big.messages[0].content[0].image_url.url.length > 512 * 1024);
  assert.match(await page.textContent('#storage-note'), /1 picture\(s\) too large to keep/);
  await open(page);
  assert.equal(await page.textContent('.msg.user .dropped'), '(image too large to keep in this browser)');
  const afterBig = await ask(page, 'Again', { pieces: ['Ok.'] });
  assert.deepEqual(afterBig.messages[0].content, [{ type: 'text', text: '(a picture that is no longer available)' },
                                                 { type: 'text', text: 'Big one' }]);

  // Delete: gone from the list, and after a reload too.
  const titles = async () => page.$$eval('#conversations button.open', (bs) => bs.map((b) => b.textContent));
  assert.deepEqual(await titles(), ['Big one', 'Hello', 'What is in the picture?']);
  await page.click('#conversations li:nth-child(2) button.delete');
  assert.deepEqual(await titles(), ['Big one', 'What is in the picture?']);
  await open(page);
  assert.deepEqual(await titles(), ['Big one', 'What is in the picture?']);

  // Storage written by something else: entries of another shape are left out, unreadable storage is
  // an empty list, and the page works on.
  await page.evaluate(() => localStorage.setItem('qwenvl.conversations.v1', JSON.stringify([
    { id: 'a', title: 'bad content', messages: [{ role: 'user', content: 5 }] },
    { id: 'b', title: 'bad part', messages: [{ role: 'user', content: [null] }] },
    { id: 'c', title: 'kept', messages: [{ role: 'user', content: 'hi' }], grounding: [{ grounding: 'x' }] },
  ])));
  await page.evaluate(() => localStorage.setItem('qwenvl.current', 'c'));
  await open(page);
  assert.deepEqual(await titles(), ['kept']);
  assert.equal(await page.textContent('.msg.user .text'), 'hi');
  await page.evaluate(() => localStorage.setItem('qwenvl.conversations.v1', '{"not": "a list"'));
  await open(page);
  assert.deepEqual(await titles(), []);
  await ask(page, 'Fresh', { pieces: ['Yes.'] });
  assert.deepEqual(await titles(), ['Fresh']);

  assert.deepEqual(external, [], 'the page loads nothing from outside');
  console.log(`ok - web page features: progress (${progressShown.length} lines), markdown sanitised, system prompt and ` +
              'budget sent, conversations kept across reloads, large picture placeholder, favicon');
} catch (e) {
  console.log(`not ok - web page features\n  ${e.stack}`);
  if (page) {
    const shown = await page.evaluate(() => ({
      status: document.getElementById('status').textContent, statusLog: window.statusLog,
      messages: [...document.querySelectorAll('.msg')].map((m) => `${m.className}: ${m.querySelector('.text').innerHTML}`),
    })).catch((err) => String(err));
    console.log(`  page: ${JSON.stringify(shown)}`);
  }
  console.log(`  browser saw:\n    ${seen.join('\n    ')}`);
  status = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(status);
