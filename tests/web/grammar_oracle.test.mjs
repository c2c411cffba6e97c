// The grammar engine against a peer: for a corpus of JSON Schemas, GBNF grammars and texts, the
// language qwenvl compiles (`qwenvl grammar --check`) and the one xgrammar compiles (the npm
// package @mlc-ai/web-xgrammar, xgrammar built to WebAssembly) allow the same prefix of every text
// (compared in characters) and agree on which texts are whole sentences. Every text both accept
// whole also validates against its schema under ajv.
// The texts are ASCII: the WebAssembly build mangles non-ASCII strings on their way in (it takes
// "A" for a sentence of [\u4e00-\u9fff]+), so code points beyond ASCII are checked by the C++
// tests against their own definition instead (tests/grammar). JSON's "-0", which xgrammar
// refuses as an integer and JSON allows, is left out, as are escapes in strings with a length
// bound, which xgrammar does not take there.
// Environment: QWENVL_BINARY (the qwenvl executable).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";

import Ajv2020 from "ajv/dist/2020.js";

// The package's loader is a UMD bundle that, loaded as an ES module, installs globalThis.xgrammar
// and, with no document, reaches for the CommonJS globals.
const require = createRequire(import.meta.url);
globalThis.require = require;
globalThis.__filename = require.resolve("@mlc-ai/web-xgrammar");
globalThis.__dirname = globalThis.__filename.replace(/\/[^/]*$/, "");
await import("@mlc-ai/web-xgrammar");
const xg = globalThis.xgrammar;

const qwenvl = process.env.QWENVL_BINARY;
assert.ok(qwenvl, "QWENVL_BINARY must name the qwenvl executable");
const work = mkdtempSync(join(tmpdir(), "qwenvl-oracle-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

// Ours: accepted bytes and completeness of each text.
function ours(flag, body, texts) {
  const file = join(work, "constraint");
  writeFileSync(file, body);
  const out = execFileSync(qwenvl, ["grammar", flag, file, "--check"], {
    input: texts.map((t) => JSON.stringify(t)).join("\n") + "\n",
  }).toString();
  return out.trim().split("\n").map((line) => JSON.parse(line));
}

// Characters of `text` wholly inside its first `bytes` bytes.
function charsWithin(text, bytes) {
  let n = 0, used = 0;
  for (const ch of text) {
    used += Buffer.byteLength(ch);
    if (used > bytes) break;
    n++;
  }
  return n;
}

let compiler;
async function theirs(grammar, texts) {
  if (!compiler) {
    const info = await xg.TokenizerInfo.createTokenizerInfo(["a"], "raw", false, 1, [0]);
    compiler = await xg.GrammarCompiler.createGrammarCompiler(info);
  }
  const compiled = await compiler.compileGrammar(grammar);
  const results = [];
  for (const text of texts) {
    const matcher = await xg.GrammarMatcher.createGrammarMatcher(compiled, undefined, true);
    let chars = 0;
    for (const ch of text) {
      if (!matcher._acceptString(ch)) break;
      chars++;
    }
    matcher.dispose();
    results.push({ chars, complete: await xg.Testings.isGrammarAcceptString(grammar, text) });
  }
  return results;
}

const schemas = [
  {
    schema: { type: "object", properties: { name: { type: "string" }, age: { type: "integer" }, tags: { type: "array", items: { type: "string" } } }, required: ["name", "age"], additionalProperties: false },
    texts: ['{"name": "Ann", "age": 31}', '{"name":"Ann","age":31,"tags":["a","b"]}', '{"age": 31}', '{"name": "A", "age": 3.5}',
            '{"name": "A", "age": 1, "x": 2}', '{"name": "\\u00e9\\n\\"", "age": -7}', '{"name": "e", "age": 12', '{"name": "a\nb", "age": 1}', '{ "name" : "x" , "age" : 1 }'],
  },
  {
    schema: { type: "array", items: { type: "number" }, minItems: 1, maxItems: 3 },
    texts: ["[1]", "[1, 2.5, -3e10]", "[]", "[1,2,3,4]", "[01]", "[1.]", "[.5]", "[1.5E-3, 0]", "[-]"],
  },
  { schema: { enum: ["red", "green", 3, null, true] }, texts: ['"red"', '"gre"', "3", "null", "true", "4", '"Red"'] },
  { schema: { anyOf: [{ type: "string", maxLength: 3 }, { type: "integer" }, { type: "null" }] }, texts: ['"abc"', '"abcd"', "12", "1.5", "null", "nul"] },
  {
    schema: { type: "object", properties: { items: { type: "array", items: { type: "object", properties: { id: { type: "integer" }, ok: { type: "boolean" } }, required: ["id", "ok"], additionalProperties: false } } }, required: ["items"], additionalProperties: false },
    texts: ['{"items": []}', '{"items": [{"id": 1, "ok": true}, {"id": 2, "ok": false}]}', '{"items": [{"id": 1}]}', '{"items": [{"ok": true, "id": 1}]}'],
  },
  { schema: { type: "string", pattern: "^[A-Z]{2}-\\d{3}$" }, texts: ['"AB-123"', '"AB-12"', '"ab-123"', '"AB-1234"', '"A'] },
  { schema: { type: "string", minLength: 2, maxLength: 4 }, texts: ['"ab"', '"a"', '"abcd"', '"abcde"', '"a b"'] },
  {
    schema: { $defs: { node: { type: "object", properties: { v: { type: "integer" }, next: { anyOf: [{ $ref: "#/$defs/node" }, { type: "null" }] } }, required: ["v", "next"], additionalProperties: false } }, $ref: "#/$defs/node" },
    texts: ['{"v": 1, "next": {"v": 2, "next": null}}', '{"v": 1, "next": {"v": 2}}', '{"v": 1, "next": null}'],
  },
  { schema: { type: "boolean" }, texts: ["true", "false", "tru", "True"] },
  { schema: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" }, c: { type: "integer" } }, required: ["b"], additionalProperties: false },
    texts: ['{"b": 1}', '{"a": 1, "b": 2}', '{"b": 1, "c": 2}', '{"a": 1}', '{"c": 1, "b": 2}', '{"a": 1, "b": 2, "c": 3}'] },
];

const grammars = [
  { gbnf: 'root ::= "yes" | "no" | [0-9]{2,3}', texts: ["yes", "no", "12", "1234", "1", "ye"] },
  { gbnf: 'root ::= item ("," item)*\nitem ::= [a-z]+ | "(" root ")"', texts: ["a,b,(c,d)", "a,,b", "(a", "((a),b)"] },
  { gbnf: 'root ::= [^"\\\\]* "!"', texts: ["hello!", 'a"b!', "ok"] },
];

const ajv = new Ajv2020({ strict: false });

test("JSON Schemas: same prefixes and sentences as xgrammar, and whole sentences validate", async () => {
  let compared = 0;
  for (const { schema, texts } of schemas) {
    const ourResults = ours("--json-schema", JSON.stringify(schema), texts);
    const grammar = await xg.Grammar.fromJSONSchema(JSON.stringify(schema), true, undefined, undefined, true, 32);
    const theirResults = await theirs(grammar, texts);
    const validate = ajv.compile(schema);
    texts.forEach((text, i) => {
      const label = `${JSON.stringify(schema)} :: ${JSON.stringify(text)}`;
      assert.equal(charsWithin(text, ourResults[i].accepted_bytes), theirResults[i].chars, `prefix of ${label}`);
      assert.equal(ourResults[i].complete, theirResults[i].complete, `whole of ${label}`);
      if (ourResults[i].complete) assert.ok(validate(JSON.parse(text)), `ajv refuses ${label}`);
      compared++;
    });
    grammar.dispose();
  }
  console.log(`# ${compared} schema texts compared`);
});

test("GBNF grammars: same prefixes and sentences as xgrammar", async () => {
  for (const { gbnf, texts } of grammars) {
    const ourResults = ours("--grammar", gbnf, texts);
    const grammar = await xg.Grammar.fromEBNF(gbnf);
    const theirResults = await theirs(grammar, texts);
    texts.forEach((text, i) => {
      assert.equal(charsWithin(text, ourResults[i].accepted_bytes), theirResults[i].chars, `prefix of ${gbnf} :: ${text}`);
      assert.equal(ourResults[i].complete, theirResults[i].complete, `whole of ${gbnf} :: ${text}`);
    });
    grammar.dispose();
  }
});
