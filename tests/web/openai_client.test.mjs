// The official OpenAI client library against qwenvl serve: plain, streamed, an image as a data URI,
// errors, any model name, text completions, logprobs and n choices.
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
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], n: 17 }),
    (e) => e.status === 400 && e.param === 'n');
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }),
    (e) => e.status === 400 && e.param === 'top_logprobs');
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', suffix: 'y' }),
    (e) => e.status === 400 && e.param === 'suffix');
});

// The server is started without --served-model-name: it serves one model under any name, as
// llama-server does, so clients written for vLLM's Hugging Face names work unchanged.
await test('a model name such as Qwen/Qwen2.5-VL-3B-Instruct is accepted', async () => {
  const name = 'Qwen/Qwen2.5-VL-3B-Instruct';
  const r = await client.chat.completions.create({
    model: name, messages: [{ role: 'user', content: 'How many shapes are there?' }], max_tokens: 4,
  });
  assert.equal(r.model, name);
  assert.equal(typeof r.choices[0].message.content, 'string');
  const m = await client.models.retrieve(name);  // the client escapes the '/'
  assert.equal(m.id, name);
  assert.equal(m.object, 'model');
});

const question = [{ role: 'user', content: 'How many shapes are there?' }];

// A text completion of the prompt the chat template makes is the chat's answer: same tokens in,
// greedy decoding, same tokens out.
await test('text completion of a string prompt', async () => {
  const rendered = await (await fetch(`${process.env.QWENVL_URL}/apply-template`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ messages: question }),
  })).json();
  assert.match(rendered.prompt, /<\|im_start\|>assistant\n$/);
  const chat = await client.chat.completions.create({ model, messages: question, max_tokens: 12, temperature: 0 });
  const r = await client.completions.create({ model, prompt: rendered.prompt, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].index, 0);
  assert.equal(r.choices[0].text, chat.choices[0].message.content);
  assert.equal(r.choices[0].finish_reason, chat.choices[0].finish_reason);
  assert.equal(r.usage.prompt_tokens, chat.usage.prompt_tokens);
  assert.equal(r.usage.completion_tokens, chat.usage.completion_tokens);
  // Streamed, the same text in pieces, then the usage.
  const stream = await client.completions.create({
    model, prompt: rendered.prompt, max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) text += c.text;
  }
  assert.equal(text, r.choices[0].text);
  assert.equal(usage.completion_tokens, r.usage.completion_tokens);
  // Legacy logprobs: the tokens spell the text, each with its alternatives (chosen one included).
  const lp = await client.completions.create({ model, prompt: rendered.prompt, max_tokens: 6, temperature: 0, logprobs: 2 });
  const { tokens, token_logprobs, top_logprobs, text_offset } = lp.choices[0].logprobs;
  assert.equal(tokens.length, lp.usage.completion_tokens);
  assert.equal(tokens.join(''), lp.choices[0].text);
  assert.equal(text_offset[0], 0);
  for (let i = 0; i < tokens.length; i++) {
    assert.ok(token_logprobs[i] <= 0);
    assert.ok(Object.keys(top_logprobs[i]).length <= 3);
    assert.equal(top_logprobs[i][tokens[i]], token_logprobs[i]);
    if (i > 0) assert.equal(text_offset[i], text_offset[i - 1] + tokens[i - 1].length);
  }
});

// These assertions need the engine's log-probabilities (Request::on_token, Result::logprobs).
await test('chat logprobs and top_logprobs, whole and streamed', async () => {
  const r = await client.chat.completions.create({
    model, messages: question, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const { content } = r.choices[0].logprobs;
  assert.equal(content.length, r.usage.completion_tokens);
  assert.equal(content.map((t) => t.token).join(''), r.choices[0].message.content);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0, JSON.stringify(t));
    assert.deepEqual(t.bytes, [...Buffer.from(t.token, 'utf8')]);
    assert.equal(t.top_logprobs.length, 3, JSON.stringify(t));
    // Greedy: the chosen token is the likeliest, and the alternatives come most likely first.
    assert.equal(t.top_logprobs[0].token, t.token);
    assert.equal(t.top_logprobs[0].logprob, t.logprob);
    for (let k = 1; k < 3; k++) assert.ok(t.top_logprobs[k].logprob <= t.top_logprobs[k - 1].logprob);
  }
  const stream = await client.chat.completions.create({
    model, messages: question, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3, stream: true,
  });
  const streamed = [];
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c?.logprobs?.content) {
      assert.equal(c.logprobs.content.map((t) => t.token).join(''), c.delta.content ?? '');
      streamed.push(...c.logprobs.content);
    }
  }
  assert.deepEqual(streamed, content);
});

await test('n=2: two choices, reproducible from the seed', async () => {
  const ask = (n, seed) => client.chat.completions.create({
    model, messages: question, max_tokens: 8, temperature: 1, n, seed,
  });
  const two = await ask(2, 7);
  assert.equal(two.choices.length, 2);
  assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
  const one = await ask(1, 7);
  // The prompt is counted once; choice k used seed + k.
  assert.equal(two.usage.prompt_tokens, one.usage.prompt_tokens);
  assert.equal(two.choices[0].message.content, one.choices[0].message.content);
  assert.equal(two.choices[1].message.content, (await ask(1, 8)).choices[0].message.content);
  // Streamed, every chunk names its choice; each choice opens with its role and ends once.
  const stream = await client.chat.completions.create({
    model, messages: question, max_tokens: 8, temperature: 1, n: 2, seed: 7, stream: true,
  });
  const text = ['', ''];
  const finishes = [0, 0];
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text[c.index] += c.delta.content ?? '';
      if (c.finish_reason) finishes[c.index]++;
    }
  }
  assert.deepEqual(finishes, [1, 1]);
  assert.deepEqual(text, two.choices.map((c) => c.message.content));
});

process.exit(failures ? 1 : 0);
