// The official OpenAI client library against qwenvl serve: plain, streamed, an image as a data URI,
// and an error.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const root = process.env.QWENVL_ROOT;
const client = new OpenAI({ baseURL: `${process.env.QWENVL_URL}/v1`, apiKey: 'unused', maxRetries: 0 });
const models = await client.models.list();
const model = models.data[0].id;
const image = readFileSync(`${root}/data/demo/scenes/scene15.png`).toString('base64');
const imageMessage = (text) => ({
  role: 'user',
  content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${image}` } },
            { type: 'text', text }],
});
let failures = 0;
async function test(name, fn) {
  try { await fn(); console.log(`ok - ${name}`); } catch (e) { failures++; console.log(`not ok - ${name}\n  ${e.stack}`); }
}

await test('plain completion', async () => {
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'How many shapes are there?' }], max_tokens: 8,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 8);
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
});

await test('image as a data URI gives the demo answer', async () => {
  const r = await client.chat.completions.create({
    model, messages: [imageMessage('What color is the circle?')], max_tokens: 20, temperature: 0,
  });
  assert.match(r.choices[0].message.content, /^The circle is \w+\.$/);
  assert.equal(r.qwenvl.media[0].original_width, 224);
});

// How the answer is cut into chunks depends on timing (the server sends, at each write, all the text
// generated since the last one; on a busy machine a whole answer can come in one chunk), so the test
// checks the stream's shape, not how many pieces the text came in.
await test('streaming with usage and grounding', async () => {
  const stream = await client.chat.completions.create({
    model, stream: true, stream_options: { include_usage: true }, max_tokens: 60, temperature: 0,
    messages: [imageMessage('Locate the red circle and output its bbox coordinates in JSON format.')],
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const shape = JSON.stringify(chunks.map((c) => c.choices.length ? c.choices[0] : { usage: c.usage }));
  for (const chunk of chunks) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, chunks[0].id);
    assert.equal(chunk.model, model);
  }
  // The role first, then the text, one chunk with the finish reason, and the usage last.
  assert.ok(chunks.length >= 4, shape);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant', shape);
  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, [], shape);
  const finishing = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(finishing.length, 1, shape);
  assert.equal(finishing[0], chunks.at(-2), shape);
  assert.ok(['stop', 'length'].includes(finishing[0].choices[0].finish_reason), shape);
  const pieces = chunks.slice(1, -2).map((c) => c.choices[0].delta.content);
  assert.ok(pieces.length >= 1 && pieces.every((p) => typeof p === 'string' && p.length > 0), shape);
  const text = pieces.join('');
  assert.match(text, /"bbox_2d": \[\d+, \d+, \d+, \d+\]/);
  const { usage } = usageChunk;
  assert.ok(usage.completion_tokens > 0, JSON.stringify(usage));
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  const extra = finishing[0].qwenvl;
  assert.equal(extra.grounding[0].type, 'box');
  // A 224x224 picture is not resized: the box in the text is the box in the picture.
  assert.deepEqual(extra.grounding[0].bbox_2d, text.match(/\[(\d+), (\d+), (\d+), (\d+)\]/).slice(1).map(Number));
});

await test('errors come back as OpenAI errors', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status === 404 && e.error?.code === 'model_not_found');
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], n: 3 }),
    (e) => e.status === 400 && e.param === 'n');
});

process.exit(failures ? 1 : 0);
