// Load test of `qwenvl serve`: N concurrent streaming clients for D seconds, each asking one image
// question again and again. Reports throughput, latency and time-to-first-token percentiles, errors
// by status, and the server's resident memory over time (from /proc/PID/status).
//   node bench/load/load.mjs --url http://127.0.0.1:8080 --clients 16 --seconds 30 \
//        --image data/demo/scenes/scene15.png --pid SERVER_PID [--max-tokens 64] [--json out.json]
import { readFileSync, writeFileSync } from 'node:fs';

function parseArgs() {
  const a = { url: 'http://127.0.0.1:8080', clients: 16, seconds: 30, maxTokens: 64,
              question: 'What shapes are in this image?', image: null, pid: null, json: null };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    a[key] = ['clients', 'seconds', 'maxTokens', 'pid'].includes(key) ? Number(argv[i + 1]) : argv[i + 1];
  }
  return a;
}

function rssMiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : null;
  } catch { return null; }
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);

async function oneRequest(args, body) {
  const start = performance.now();
  let ttft = null;
  const res = await fetch(`${args.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
  });
  if (!res.ok) { await res.text(); return { status: res.status }; }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let tokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const data = buffer.slice(6, end);
      buffer = buffer.slice(end + 2);
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) return { status: 'stream-error' };
      if (chunk.choices?.[0]?.delta?.content && ttft === null) ttft = performance.now() - start;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  return { status: 200, latency: performance.now() - start, ttft, tokens };
}

async function main() {
  const args = parseArgs();
  const content = [{ type: 'text', text: args.question }];
  if (args.image) {
    const b64 = readFileSync(args.image).toString('base64');
    content.unshift({ type: 'image_url', image_url: { url: `data:image/png;base64,${b64}` } });
  }
  const body = JSON.stringify({ messages: [{ role: 'user', content }], stream: true,
    stream_options: { include_usage: true }, max_tokens: args.maxTokens, temperature: 0 });
  const results = [];
  const rss = [];
  const t0 = performance.now();
  const deadline = t0 + args.seconds * 1000;
  const sampler = setInterval(() => {
    if (args.pid) rss.push({ t: +((performance.now() - t0) / 1000).toFixed(1), rss_mib: rssMiB(args.pid) });
  }, 1000);
  if (args.pid) rss.push({ t: 0, rss_mib: rssMiB(args.pid) });
  const client = async () => {
    while (performance.now() < deadline) {
      try { results.push(await oneRequest(args, body)); } catch (e) { results.push({ status: `exception: ${e.cause?.code || e.message}` }); }
    }
  };
  await Promise.all(Array.from({ length: args.clients }, client));
  clearInterval(sampler);
  const wall = (performance.now() - t0) / 1000;
  const ok = results.filter((r) => r.status === 200);
  const lat = ok.map((r) => r.latency).sort((x, y) => x - y);
  const ttft = ok.map((r) => r.ttft).filter((x) => x !== null).sort((x, y) => x - y);
  const errors = {};
  for (const r of results) if (r.status !== 200) errors[r.status] = (errors[r.status] || 0) + 1;
  const tokens = ok.reduce((s, r) => s + r.tokens, 0);
  const report = {
    clients: args.clients, seconds: +wall.toFixed(1), requests_ok: ok.length, errors,
    requests_per_s: +(ok.length / wall).toFixed(2), tokens_per_s: +(tokens / wall).toFixed(1),
    latency_ms: { p50: +pct(lat, 0.5).toFixed(0), p99: +pct(lat, 0.99).toFixed(0) },
    ttft_ms: { p50: +pct(ttft, 0.5).toFixed(0), p99: +pct(ttft, 0.99).toFixed(0) },
    rss_mib: rss.map((s) => s.rss_mib).filter((x) => x !== null).map((x) => +x.toFixed(0)),
  };
  console.log(JSON.stringify(report));
  if (args.json) writeFileSync(args.json, JSON.stringify({ report, rss }, null, 1));
}

await main();
