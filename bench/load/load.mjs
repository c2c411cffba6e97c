// Load test of `qwenvl serve`, or of replicas behind a load balancer: N concurrent streaming
// clients for D seconds, each holding conversations of T turns about a picture. Reports throughput,
// latency and time-to-first-token percentiles, errors by status, the answering instance of each
// request (X-Qwenvl-Instance), the server's resident memory over time (from /proc/PID/status), and
// with --metrics the vision-cache and prefix-cache counters the replicas gained during the run.
//   node bench/load/load.mjs --url http://127.0.0.1:8080 --clients 16 --seconds 30 \
//        --image data/demo/scenes/scene15.png --pid SERVER_PID [--max-tokens 64] [--json out.json]
//        [--images DIR] [--turns T] [--affinity none|header|user] [--metrics URL,URL...]
// --images: each conversation takes the next picture of DIR (instead of --image for all), made its
// own by a PNG text chunk naming the conversation (same pixels, other bytes: the replicas' caches,
// keyed by content, see a new picture, as with real users' pictures);
// --affinity header: each conversation sends its id as X-Session-Id; user: as the OpenAI "user".
// Also a module: the cluster test imports chat(), conversation() and scrape().
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function parseArgs() {
  const a = { url: 'http://127.0.0.1:8080', clients: 16, seconds: 30, maxTokens: 64,
              question: 'What shapes are in this image?', image: null, images: null, pid: null,
              json: null, turns: 1, affinity: 'none', metrics: null };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (!(key in a)) throw new Error(`unknown option ${argv[i]}`);
    a[key] = ['clients', 'seconds', 'maxTokens', 'pid', 'turns'].includes(key) ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!['none', 'header', 'user'].includes(a.affinity)) throw new Error('--affinity: none, header or user');
  return a;
}

function rssMiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : null;
  } catch { return null; }
}

export const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);

// One streamed chat completion. Resolves (never rejects) with its status (200, an HTTP status,
// 'stream-error', 'truncated' or 'exception: CODE'), the answering instance and, when it
// succeeded, its text, latency, time to first token, tokens and cached prompt tokens.
export async function chat(url, { messages, maxTokens = 16, session = null, user = null,
                                  timeoutMs = 120000 }) {
  const start = performance.now();
  let ttft = null;
  const headers = { 'Content-Type': 'application/json' };
  if (session !== null) headers['X-Session-Id'] = session;
  const payload = { messages, stream: true, stream_options: { include_usage: true },
                    max_tokens: maxTokens, temperature: 0 };
  if (user !== null) payload.user = user;
  let instance = null;
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST', headers, body: JSON.stringify(payload), signal: AbortSignal.timeout(timeoutMs),
    });
    instance = res.headers.get('x-qwenvl-instance');
    if (!res.ok) { await res.text(); return { status: res.status, instance }; }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let text = '';
    let usage = null;
    let done = false;
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        // An event's data lines; comment lines (": progress {...}") carry none and are skipped.
        const data = event.split('\n').filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6)).join('\n');
        if (data === '') continue;
        if (data === '[DONE]') { done = true; continue; }
        const chunk = JSON.parse(data);
        if (chunk.error) return { status: 'stream-error', instance };
        const piece = chunk.choices?.[0]?.delta?.content;
        if (piece) {
          if (ttft === null) ttft = performance.now() - start;
          text += piece;
        }
        if (chunk.usage) usage = chunk.usage;
      }
    }
    // A stream cut before [DONE] (the replica died) is a failure, not a short answer.
    if (!done || usage === null) return { status: 'truncated', instance };
    return { status: 200, instance, text, latency: performance.now() - start, ttft,
             tokens: usage.completion_tokens,
             cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0 };
  } catch (e) {
    return { status: `exception: ${e.cause?.code || e.name || e.message}`, instance };
  }
}

// A conversation of `turns` requests about one picture (a data URL), each turn sending the
// earlier ones with their answers. Stops at the first failed turn. Returns the results in order.
// `beforeTurn`, when given, is awaited before each turn after the first (a test waits there until
// the balancer no longer counts the previous turn, so that its bound on load cannot move the next).
export async function conversation(url, { id, picture, turns, affinity = 'none', maxTokens = 16,
                                          question = 'What shapes are in this image?',
                                          beforeTurn = null }) {
  const messages = [{ role: 'user', content: [
    ...(picture ? [{ type: 'image_url', image_url: { url: picture } }] : []),
    { type: 'text', text: question }] }];
  const results = [];
  for (let t = 0; t < turns; t++) {
    if (t > 0) messages.push({ role: 'user', content: `And what else? (${t})` });
    if (t > 0 && beforeTurn) await beforeTurn(t);
    const r = await chat(url, { messages, maxTokens,
                                session: affinity === 'header' ? id : null,
                                user: affinity === 'user' ? id : null });
    results.push({ ...r, turn: t });
    if (r.status !== 200) break;
    messages.push({ role: 'assistant', content: r.text });
  }
  return results;
}

// The counters of a replica's /metrics the reports compare (null when it does not answer).
export async function scrape(metricsUrl) {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })).text();
    const value = (name) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? NaN);
    return { visionHits: value('qwenvl_vision_cache_hits_total'),
             visionMisses: value('qwenvl_vision_cache_misses_total'),
             prefixMedia: value('qwenvl_prefix_cache_media_total'),
             prefixTokens: value('qwenvl_prefix_cache_hit_tokens_total'),
             promptTokens: value('qwenvl_prefix_cache_queried_tokens_total') };
  } catch { return null; }
}

export function pictureDataUrl(file) {
  return `data:image/png;base64,${readFileSync(file).toString('base64')}`;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// The PNG with a tEXt chunk ("qwenvl" = tag) before its IEND chunk (the last 12 bytes).
export function taggedPng(png, tag) {
  const data = Buffer.concat([Buffer.from('tEXtqwenvl\0', 'latin1'), Buffer.from(tag, 'latin1')]);
  const chunk = Buffer.alloc(data.length + 8);
  chunk.writeUInt32BE(data.length - 4, 0);
  data.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(data), data.length + 4);
  return Buffer.concat([png.subarray(0, png.length - 12), chunk, png.subarray(png.length - 12)]);
}

async function main() {
  const args = parseArgs();
  const files = args.images
    ? readdirSync(args.images).filter((f) => f.endsWith('.png')).sort().map((f) => readFileSync(join(args.images, f)))
    : [];
  const single = args.image ? pictureDataUrl(args.image) : null;
  const picture = (n) => (files.length
    ? `data:image/png;base64,${taggedPng(files[n % files.length], `conversation-${n}`).toString('base64')}`
    : single);
  const metricsUrls = args.metrics ? args.metrics.split(',') : [];
  const before = await Promise.all(metricsUrls.map(scrape));
  const results = [];
  const rss = [];
  const t0 = performance.now();
  const deadline = t0 + args.seconds * 1000;
  const sampler = setInterval(() => {
    if (args.pid) rss.push({ t: +((performance.now() - t0) / 1000).toFixed(1), rss_mib: rssMiB(args.pid) });
  }, 1000);
  if (args.pid) rss.push({ t: 0, rss_mib: rssMiB(args.pid) });
  let next = 0;
  const client = async () => {
    while (performance.now() < deadline) {
      const n = next++;
      results.push(...await conversation(args.url, {
        id: `conversation-${n}`, picture: picture(n), turns: args.turns,
        affinity: args.affinity, maxTokens: args.maxTokens, question: args.question }));
    }
  };
  await Promise.all(Array.from({ length: args.clients }, client));
  clearInterval(sampler);
  const wall = (performance.now() - t0) / 1000;
  const after = await Promise.all(metricsUrls.map(scrape));
  const ok = results.filter((r) => r.status === 200);
  const lat = ok.map((r) => r.latency).sort((x, y) => x - y);
  const ttft = ok.map((r) => r.ttft).filter((x) => x !== null).sort((x, y) => x - y);
  const errors = {};
  for (const r of results) if (r.status !== 200) errors[r.status] = (errors[r.status] || 0) + 1;
  const instances = {};
  for (const r of ok) instances[r.instance ?? '?'] = (instances[r.instance ?? '?'] || 0) + 1;
  const tokens = ok.reduce((s, r) => s + r.tokens, 0);
  const report = {
    clients: args.clients, seconds: +wall.toFixed(1), turns: args.turns, affinity: args.affinity,
    requests_ok: ok.length, errors,
    requests_per_s: +(ok.length / wall).toFixed(2), tokens_per_s: +(tokens / wall).toFixed(1),
    latency_ms: { p50: +pct(lat, 0.5).toFixed(0), p99: +pct(lat, 0.99).toFixed(0) },
    ttft_ms: { p50: +pct(ttft, 0.5).toFixed(0), p99: +pct(ttft, 0.99).toFixed(0) },
    instances,
    rss_mib: rss.map((s) => s.rss_mib).filter((x) => x !== null).map((x) => +x.toFixed(0)),
  };
  if (metricsUrls.length) {
    // Pictures not encoded again over pictures asked for: vision-cache hits and pictures inside a
    // reused KV prefix, over those plus the encodings.
    const sum = (k) => after.reduce((s, m, i) => s + ((m?.[k] ?? 0) - (before[i]?.[k] ?? 0)), 0);
    const reused = sum('visionHits') + sum('prefixMedia');
    report.vision_encodings = sum('visionMisses');
    report.picture_reuse_rate = +(reused / Math.max(1, reused + sum('visionMisses'))).toFixed(3);
    report.prefix_token_reuse_rate = +(sum('prefixTokens') / Math.max(1, sum('promptTokens'))).toFixed(3);
  }
  console.log(JSON.stringify(report));
  if (args.json) writeFileSync(args.json, JSON.stringify({ report, rss }, null, 1));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
