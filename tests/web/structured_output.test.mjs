// Structured output through the official OpenAI client against qwenvl serve on the demo
// checkpoint: a response_format JSON schema (every answer validated by ajv, greedy and sampled),
// the grounding mode, function calling with tool_choice "required" and a named function (calls
// parsed into tool_calls, arguments valid under the function's schema, whole and streamed), and a
// schema the server cannot enforce refused with a 400 naming it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import Ajv2020 from 'ajv/dist/2020.js';

const root = process.env.QWENVL_ROOT;
const client = new OpenAI({ baseURL: `${process.env.QWENVL_URL}/v1`, apiKey: 'unused', maxRetries: 0 });
const model = (await client.models.list()).data[0].id;
const image = readFileSync(`${root}/data/demo/scenes/scene15.png`).toString('base64');
const imageMessage = (text) => ({
  role: 'user',
  content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${image}` } }, { type: 'text', text }],
});
const ajv = new Ajv2020({ strict: false });
let failures = 0;
async function test(name, fn) {
  try { await fn(); console.log(`ok - ${name}`); } catch (e) { failures++; console.log(`not ok - ${name}\n  ${e.stack}`); }
}

const shapeSchema = {
  type: 'object',
  properties: {
    count: { type: 'integer' },
    shapes: { type: 'array', items: { type: 'object', properties: { color: { enum: ['red', 'green', 'blue', 'yellow'] }, kind: { enum: ['circle', 'square', 'triangle'] } }, required: ['color', 'kind'], additionalProperties: false }, maxItems: 4 },
  },
  required: ['count', 'shapes'],
  additionalProperties: false,
};

await test('response_format json_schema: every answer parses and validates', async () => {
  const validate = ajv.compile(shapeSchema);
  for (const [temperature, seed] of [[0, undefined], [1, 1], [1, 2], [1, 3]]) {
    const r = await client.chat.completions.create({
      model, messages: [imageMessage('How many shapes are there?')], max_tokens: 120, temperature, seed,
      response_format: { type: 'json_schema', json_schema: { name: 'shapes', strict: true, schema: shapeSchema } },
    });
    if (r.choices[0].finish_reason === 'length') continue;  // cut short: no whole document
    const doc = JSON.parse(r.choices[0].message.content);
    assert.ok(validate(doc), `${r.choices[0].message.content}: ${ajv.errorsText(validate.errors)}`);
  }
});

await test('grounding mode: boxes always parse', async () => {
  const r = await client.chat.completions.create({
    model, messages: [imageMessage('Locate the red circle and output its bbox coordinates in JSON format.')],
    max_tokens: 80, temperature: 0, grounding: true,
  });
  assert.ok(r.qwenvl.grounding.length >= 1, r.choices[0].message.content);
  assert.equal(r.qwenvl.grounding[0].bbox_2d.length, 4);
});

const tools = [
  { type: 'function', function: { name: 'count_shapes', description: 'Count the shapes of a color', parameters: { type: 'object', properties: { color: { enum: ['red', 'green', 'blue'] } }, required: ['color'], additionalProperties: false } } },
  { type: 'function', function: { name: 'describe', parameters: { type: 'object', properties: { detail: { type: 'boolean' } }, required: ['detail'], additionalProperties: false } } },
];

await test('tool_choice required: calls come back as tool_calls with valid arguments', async () => {
  const r = await client.chat.completions.create({
    model, messages: [imageMessage('How many red shapes are there?')], max_tokens: 100, temperature: 0,
    tools, tool_choice: 'required',
  });
  const choice = r.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice));
  assert.ok(choice.message.tool_calls.length >= 1);
  for (const call of choice.message.tool_calls) {
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_/);
    const spec = tools.find((t) => t.function.name === call.function.name);
    assert.ok(spec, call.function.name);
    assert.ok(ajv.validate(spec.function.parameters, JSON.parse(call.function.arguments)), call.function.arguments);
  }
});

await test('a named function, streamed: one call in the deltas', async () => {
  const stream = await client.chat.completions.create({
    model, messages: [imageMessage('Describe the picture.')], max_tokens: 200, temperature: 0, stream: true,
    tools, tool_choice: { type: 'function', function: { name: 'describe' } },
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    if (!chunk.choices.length) continue;
    for (const d of chunk.choices[0].delta.tool_calls ?? []) {
      calls[d.index] ??= { id: '', name: '', arguments: '' };
      if (d.id) calls[d.index].id = d.id;
      if (d.function?.name) calls[d.index].name += d.function.name;
      if (d.function?.arguments) calls[d.index].arguments += d.function.arguments;
    }
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'describe');
  assert.equal(typeof JSON.parse(calls[0].arguments).detail, 'boolean');
});

await test('a schema that cannot be enforced is a 400 naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'integer', minimum: 3 } } },
    }),
    (e) => e.status === 400 && /minimum/.test(e.message) && e.param === 'response_format.json_schema.schema',
  );
});

process.exit(failures ? 1 : 0);
