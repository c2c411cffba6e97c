// The official ollama client library (npm "ollama") against qwenvl serve's ollama API: the listings,
// a chat about a picture, a stream, a structured answer, an abort, and errors raised with the
// server's message.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ollama } from 'ollama';

const root = process.env.QWENVL_ROOT;
const ollama = new Ollama({ host: process.env.QWENVL_URL });
const picture = readFileSync(`${root}/data/demo/scenes/scene15.png`);
let failures = 0;
async function test(name, fn) {
  try { await fn(); console.log(`ok - ${name}`); } catch (e) { failures++; console.log(`not ok - ${name}\n  ${e.stack}`); }
}

const { models } = await ollama.list();
const model = models[0].name;

await test('list, show, ps and version describe the served model', async () => {
  assert.equal(models.length, 1);
  assert.match(model, /:latest$/);
  const shown = await ollama.show({ model });
  assert.ok(shown.capabilities.includes('vision'), JSON.stringify(shown.capabilities));
  assert.ok(shown.model_info['qwen25vl.context_length'] > 0);
  const running = await ollama.ps();
  assert.equal(running.models[0].name, model);
  const { version } = await ollama.version();
  assert.match(version, /^\d+\.\d+\.\d+$/);
});

await test('chat about a picture gives the demo answer', async () => {
  // A Uint8Array: the client sends it base64-encoded, as ollama expects.
  const r = await ollama.chat({
    model, options: { temperature: 0, num_predict: 20 },
    messages: [{ role: 'user', content: 'What color is the circle?', images: [picture] }],
  });
  assert.equal(r.model, model);
  assert.equal(r.message.role, 'assistant');
  assert.match(r.message.content, /^The circle is \w+\.$/);
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'stop');
  assert.ok(r.prompt_eval_count > 64, `${r.prompt_eval_count}`);  // the picture's 64 tokens and more
  assert.ok(r.eval_count >= 1 && r.eval_count <= 20, `${r.eval_count}`);
  assert.ok(r.total_duration >= r.eval_duration && r.eval_duration > 0, JSON.stringify(r));
  assert.ok(!Number.isNaN(Date.parse(r.created_at)), r.created_at);
});

// How the answer is cut into parts depends on timing; the test checks the stream's shape.
await test('streamed generate with a base64 picture', async () => {
  const stream = await ollama.generate({
    model, prompt: 'How many shapes are there?', images: [picture.toString('base64')], stream: true,
    options: { temperature: 0, num_predict: 20 },
  });
  const parts = [];
  for await (const part of stream) parts.push(part);
  const shape = JSON.stringify(parts.map((p) => ({ response: p.response, done: p.done })));
  assert.ok(parts.length >= 2, shape);
  const last = parts.at(-1);
  assert.equal(last.done, true, shape);
  assert.ok(['stop', 'length'].includes(last.done_reason), shape);
  assert.ok(parts.slice(0, -1).every((p) => p.done === false && p.response.length > 0), shape);
  assert.match(parts.map((p) => p.response).join(''), /^There (are \d+ shapes|is 1 shape)\.$/);
  assert.ok(last.eval_count >= 1, JSON.stringify(last));
  assert.equal(last.context, undefined);  // a conversation with a picture has no token-id form
});

// Needs the grammar engine that enforces Request::constraint: without it the demo model answers in
// words and JSON.parse fails.
await test('structured answer with a JSON schema format', async () => {
  const format = {
    type: 'object',
    properties: {
      color: { type: 'string', enum: ['red', 'green', 'blue', 'yellow'] },
      round: { type: 'boolean' },
    },
    required: ['color', 'round'],
    additionalProperties: false,
  };
  const r = await ollama.chat({
    model, format, options: { temperature: 0, num_predict: 200 },
    messages: [{ role: 'user', content: 'What color is the circle?', images: [picture] }],
  });
  assert.equal(r.done_reason, 'stop', r.message.content);
  const answer = JSON.parse(r.message.content);
  assert.ok(format.properties.color.enum.includes(answer.color), r.message.content);
  assert.equal(typeof answer.round, 'boolean', r.message.content);
});

await test('abort ends the stream and the server cancels the request', async () => {
  const metric = async () => {
    const text = await (await fetch(`${process.env.QWENVL_URL}/metrics`)).text();
    return Number(text.match(/^qwenvl_cancelled_requests_total (\d+)$/m)[1]);
  };
  const before = await metric();
  // Greedy answers of the demo model are short. At temperature 100 every token of the vocabulary is
  // about as likely as the end of turn (1 in 150000), so the answer runs to its limit unless
  // cancelled; the abort comes at the first part.
  const stream = await ollama.chat({
    model, stream: true, options: { temperature: 100, seed: 1, num_predict: 4000 },
    messages: [{ role: 'user', content: 'Outline the position of each shape and output all the coordinates in JSON format.', images: [picture] }],
  });
  let parts = 0;
  await assert.rejects(async () => {
    for await (const part of stream) {
      parts++;
      if (part.done) throw new Error('the answer ended before the abort');
      stream.abort();
    }
  }, (e) => e.name === 'AbortError');
  // Parts the client had already received before the abort are still handed out.
  assert.ok(parts >= 1);
  const deadline = Date.now() + 10000;
  while ((await metric()) === before) {
    assert.ok(Date.now() < deadline, 'the server did not cancel the request');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

await test('errors are raised with the server\'s message and status', async () => {
  await assert.rejects(
    ollama.chat({ model, messages: [{ role: 'user', content: 'x' }], options: { temperature: 'hot' } }),
    (e) => e.name === 'ResponseError' && e.status_code === 400 && /options\.temperature must be a number/.test(e.error));
  await assert.rejects(
    ollama.chat({ model, stream: true, messages: [{ role: 'user', content: 'x', images: ['not base64!'] }] }),
    (e) => e.name === 'ResponseError' && e.status_code === 400 && /messages\[0\]\.images\[0\]/.test(e.error));
  // Valid base64 that is no picture: refused by the engine before the answer begins.
  await assert.rejects(
    ollama.generate({ model, prompt: 'x', images: [Buffer.from('not a picture').toString('base64')] }),
    (e) => e.name === 'ResponseError' && e.status_code === 400 && e.error.length > 0);
  await assert.rejects(
    ollama.chat({ model, think: true, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status_code === 400 && /thinking/.test(e.error));
  await assert.rejects(ollama.pull({ model: 'llama3' }), (e) => e.status_code === 501);
});

process.exit(failures ? 1 : 0);
