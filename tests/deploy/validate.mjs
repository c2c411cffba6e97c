// Validates Kubernetes manifests offline (no cluster): each YAML document of the files given (or of
// stdin) against the Kubernetes OpenAPI schemas (kubernetes-models), an InferencePool against the
// schema written from its CRD (inferencepool.schema.json). Prints one line per object; exits 1 if
// any object is invalid or of a kind it cannot check.
//   node tests/deploy/validate.mjs [FILE...]
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import Ajv from 'ajv';

const here = new URL('.', import.meta.url);
const ajv = new Ajv({ allErrors: true, strict: false });
const checkPool = ajv.compile(JSON.parse(readFileSync(new URL('inferencepool.schema.json', here))));

// kubernetes-models lays its classes out as <group>/<version>/<Kind> ("v1/Service" for the core
// group).
async function modelClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [null, apiVersion];
  const path = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  try {
    return (await import(path))[kind];
  } catch {
    return null;
  }
}

async function check(doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'not an object';
  if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') return 'no apiVersion or kind';
  if (doc.kind === 'InferencePool') {
    return checkPool(doc) ? null : ajv.errorsText(checkPool.errors);
  }
  const Model = await modelClass(doc.apiVersion, doc.kind);
  if (!Model) return `no schema for ${doc.apiVersion} ${doc.kind}`;
  try {
    new Model(doc).validate();
    return null;
  } catch (e) {
    return e.message;
  }
}

const inputs = process.argv.length > 2 ? process.argv.slice(2).map((f) => readFileSync(f, 'utf8'))
  : [readFileSync(0, 'utf8')];
let bad = 0;
let count = 0;
for (const text of inputs) {
  let docs;
  try {
    docs = yaml.loadAll(text);
  } catch (e) {
    console.log(`invalid YAML: ${e.message}`);
    bad++;
    continue;
  }
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    count++;
    const error = await check(doc);
    const name = `${doc?.kind ?? '?'} ${doc?.metadata?.name ?? '?'}`;
    if (error) {
      bad++;
      console.log(`INVALID ${name}: ${error}`);
    } else {
      console.log(`ok ${name}`);
    }
  }
}
if (count === 0) {
  console.log('no objects');
  bad++;
}
process.exit(bad ? 1 : 0);
