// The scale-out setup on one machine: replicas of the demo model behind HAProxy
// (deploy/local-cluster.sh, started by cluster_test.sh), driven by the load tool's client.
//   CLUSTER_URL=http://127.0.0.1:P RUN_DIR=D REPLICAS=3 node tests/deploy/cluster.test.mjs
// Checks, in order: affinity (a session id always reaches the same replica, the header names it),
// the vision cache (the second turn of a conversation with a picture does not encode it again),
// bounded load (a hot key spreads), kill -9 of a replica under load (only its requests in flight
// fail, every later one succeeds, only its keys move), and a rolling restart under load (no request
// lost).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chat, conversation, pictureDataUrl, scrape } from '../../bench/load/load.mjs';

const url = process.env.CLUSTER_URL;
const runDir = process.env.RUN_DIR;
const replicas = Number(process.env.REPLICAS);
const root = new URL('../..', import.meta.url).pathname;
const port = Number(new URL(url).port);
const replicaUrl = (i) => `http://127.0.0.1:${port + i}`;
const statsUrl = `http://127.0.0.1:${port + replicas + 1}/;csv`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pidOf = (i) => Number(readFileSync(join(runDir, `replica-${i}.pid`), 'utf8'));
const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const text = (t) => [{ role: 'user', content: t }];

// HAProxy's view of each replica in the hashing backend: "UP", "DOWN", ...
async function haproxyStatus() {
  const csv = await (await fetch(statsUrl, { signal: AbortSignal.timeout(5000) })).text();
  const status = {};
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (f[0] === 'replicas' && f[1].startsWith('replica')) status[f[1]] = f[17];
  }
  return status;
}
async function waitStatus(i, want, seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const s = (await haproxyStatus())[`replica${i}`] ?? '';
    if (s.startsWith(want)) return;
    if (Date.now() > until) throw new Error(`replica${i} is ${s}, not ${want}, after ${seconds} s`);
    await sleep(200);
  }
}

// Requests HAProxy's backends hold now. The bound on load counts them: HAProxy lets go of a
// request a moment after its client has the whole answer.
async function haproxyBusy() {
  const csv = await (await fetch(statsUrl, { signal: AbortSignal.timeout(5000) })).text();
  let busy = 0;
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (f[1] === 'BACKEND' && f[0].startsWith('replicas')) busy += Number(f[4]);
  }
  return busy;
}

// Where each probe key lands now: one short request per key, each sent when HAProxy holds no
// other (no load, so the bound on load moves none).
const probeKeys = Array.from({ length: 24 }, (_, k) => `probe-${k}`);
async function waitIdle() {
  for (let t = 0; (await haproxyBusy()) > 0; t++) {
    if (t > 500) throw new Error('HAProxy never became idle');
    await sleep(10);
  }
}
async function placement() {
  const where = {};
  for (const key of probeKeys) {
    await waitIdle();
    const r = await chat(url, { messages: text('hello'), maxTokens: 2, session: key });
    assert.equal(r.status, 200, `probe ${key}: ${r.status}`);
    where[key] = r.instance;
  }
  return where;
}

// Background load: `clients` loops of two-turn text conversations, each with its own session id,
// until stop() is called; every request is kept with its start and end times.
function startLoad(clients, tag) {
  const results = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const id = `${tag}-${n++}`;
      const messages = text(`Tell me about ${id}.`);
      for (let turn = 0; turn < 2 && running; turn++) {
        const start = Date.now();
        const r = await chat(url, { messages, maxTokens: 12, session: id, timeoutMs: 90000 });
        results.push({ ...r, start, end: Date.now(), id });
        if (r.status !== 200) break;
        messages.push({ role: 'assistant', content: r.text }, { role: 'user', content: 'More.' });
      }
    }
  });
  return { results, stop: async () => { running = false; await Promise.all(loops); } };
}

function startReplica(i) {
  spawn(join(runDir, `replica-${i}.sh`), [], { detached: true, stdio: 'ignore' }).unref();
}
async function waitExit(pid, seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try { process.kill(pid, 0); } catch { return; }
    if (Date.now() > until) throw new Error(`pid ${pid} still running after ${seconds} s`);
    await sleep(100);
  }
}

// 1. Affinity: every key answers from one replica, named in the header, twice over.
log('affinity');
const first = await placement();
const second = await placement();
assert.deepEqual(second, first, 'a session id moved between replicas with no change in the cluster');
const spread = {};
for (const inst of Object.values(first)) spread[inst] = (spread[inst] || 0) + 1;
log('keys per replica', JSON.stringify(spread));
assert.equal(Object.keys(spread).length, replicas, `the ${probeKeys.length} keys reach only ${Object.keys(spread)}`);
for (const inst of Object.keys(spread)) assert.match(inst, /^replica-[1-9]$/);
// The "user" field is a key too: the same user twice reaches one replica.
{
  // Sent when HAProxy holds no request: the bound on load would move b while a still counts.
  await waitIdle();
  const a = await chat(url, { messages: text('hi'), maxTokens: 2, user: 'alice' });
  await waitIdle();
  const b = await chat(url, { messages: text('hi again'), maxTokens: 2, user: 'alice' });
  assert.equal(a.status, 200);
  assert.equal(b.instance, a.instance, 'the same "user" reached two replicas');
}

// 2. Vision cache: turn two of a conversation with a picture does not encode the picture again.
log('vision cache');
{
  const before = await Promise.all([1, 2, 3].slice(0, replicas).map((i) => scrape(`${replicaUrl(i)}/metrics`)));
  const picture = pictureDataUrl(join(root, 'data/demo/scenes/scene03.png'));
  // Each turn is sent when HAProxy holds no request: it lets go of turn one a moment after the
  // client has its answer, and until then the bound on load may send turn two elsewhere.
  await waitIdle();
  const turns = await conversation(url, { id: 'picture-conversation', picture, turns: 2, affinity: 'header',
                                          maxTokens: 8, beforeTurn: waitIdle });
  assert.deepEqual(turns.map((t) => t.status), [200, 200]);
  assert.equal(turns[1].instance, turns[0].instance);
  const i = Number(turns[0].instance.split('-')[1]);
  const after = await scrape(`${replicaUrl(i)}/metrics`);
  const was = before[i - 1];
  assert.equal(after.visionMisses - was.visionMisses, 1, 'the picture was encoded more than once');
  const reused = (after.visionHits - was.visionHits) + (after.prefixMedia - was.prefixMedia);
  assert.ok(reused >= 1, 'turn two neither hit the vision cache nor reused the prefix holding it');
  assert.ok(turns[1].cachedTokens > 0, 'turn two reported no cached prompt tokens');
}

// 3. Bounded load: one hot key from 6 clients at once does not pile onto one replica.
log('bounded load');
{
  const seen = new Set();
  await Promise.all(Array.from({ length: 6 }, async (_, c) => {
    for (let k = 0; k < 3; k++) {
      const r = await chat(url, { messages: text(`hot ${c} ${k}`), maxTokens: 24, session: 'hot-key' });
      assert.equal(r.status, 200);
      seen.add(r.instance);
    }
  }));
  log('hot key served by', [...seen].join(' '));
  assert.ok(seen.size >= 2, 'a hot key stayed on one replica under load (no bound on load)');
}

// 4. kill -9 one replica under load.
const victim = Number(Object.entries(spread).sort((a, b) => b[1] - a[1])[0][0].split('-')[1]);
log(`kill -9 replica-${victim}`);
{
  const load = startLoad(4, 'kill');
  await sleep(2500);
  const killedAt = Date.now();
  process.kill(pidOf(victim), 'SIGKILL');
  await waitStatus(victim, 'DOWN', 20);
  await sleep(3000);
  await load.stop();
  const failed = load.results.filter((r) => r.status !== 200);
  const later = load.results.filter((r) => r.start > killedAt + 200);
  log(`${load.results.length} requests, ${failed.length} failed:`, JSON.stringify(failed.map((r) => [r.status, r.instance])));
  for (const r of failed) {
    assert.ok(r.start <= killedAt + 200 && r.end >= killedAt,
              `a request that was not in flight at the kill failed: ${r.status}`);
    assert.ok(r.instance === null || r.instance === `replica-${victim}`,
              `a request on ${r.instance} failed (${r.status})`);
  }
  assert.ok(later.length > 0, 'no request was sent after the kill');
  assert.ok(later.every((r) => r.status === 200), 'a request sent after the kill failed');
  const now = await placement();
  for (const key of probeKeys) {
    if (first[key] === `replica-${victim}`) {
      assert.notEqual(now[key], `replica-${victim}`);
    } else {
      assert.equal(now[key], first[key], `${key} moved from ${first[key]} though its replica lives`);
    }
  }
  startReplica(victim);
  await waitStatus(victim, 'UP', 90);
  assert.deepEqual(await placement(), first, 'the keys did not come back to the restarted replica');
}

// 5. Rolling restart under load: SIGTERM, wait for the exit, start, wait until HAProxy sees it up;
// one replica at a time. No request may fail.
log('rolling restart');
{
  const load = startLoad(4, 'roll');
  await sleep(1500);
  for (let i = 1; i <= replicas; i++) {
    const pid = pidOf(i);
    process.kill(pid, 'SIGTERM');
    await waitExit(pid, 60);
    startReplica(i);
    await waitStatus(i, 'UP', 90);
    log(`replica-${i} restarted`);
  }
  await sleep(1000);
  await load.stop();
  const failed = load.results.filter((r) => r.status !== 200);
  log(`${load.results.length} requests during the rolling restart, ${failed.length} failed`,
      JSON.stringify(failed.slice(0, 5)));
  assert.ok(load.results.length >= replicas, 'too few requests ran to say anything');
  assert.equal(failed.length, 0, 'requests were lost in the rolling restart');
}
log('cluster test passed');
