// qwenvl web page: a chat with pictures and videos over the server's OpenAI-compatible API.
// The answer streams in over SSE (fetch + ReadableStream); boxes and points of a grounding answer
// come from the "qwenvl" field of the final chunk (original-picture coordinates) and are drawn as an
// SVG overlay on the picture. No external resources.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG_NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6'];

const state = {
  attachments: [],  // {kind: 'image'|'video', dataUrl, name}
  history: [],      // OpenAI messages sent so far
  figures: [],      // one per picture/video of the conversation, in prompt order
  controller: null,
};

function setStatus(text) { $('status').textContent = text; }

function setBusy(busy) {
  $('send').disabled = busy;
  $('stop').disabled = !busy;
  document.body.dataset.state = busy ? 'streaming' : 'idle';
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function addFiles(files) {
  for (const file of files) {
    const kind = file.type.startsWith('video/') ? 'video' : file.type.startsWith('image/') ? 'image' : null;
    if (!kind) { setStatus(`skipped ${file.name}: not an image or video`); continue; }
    state.attachments.push({ kind, name: file.name, dataUrl: await readAsDataUrl(file) });
  }
  renderAttachments();
}

function mediaElement(kind, src) {
  const el = document.createElement(kind === 'video' ? 'video' : 'img');
  el.src = src;
  if (kind === 'video') { el.controls = true; el.muted = true; }
  return el;
}

function renderAttachments() {
  const box = $('attachments');
  box.replaceChildren();
  state.attachments.forEach((a, i) => {
    const thumb = document.createElement('div');
    thumb.className = 'thumb';
    thumb.append(mediaElement(a.kind, a.dataUrl));
    const remove = document.createElement('button');
    remove.textContent = '×';
    remove.title = `remove ${a.name}`;
    remove.onclick = () => { state.attachments.splice(i, 1); renderAttachments(); };
    thumb.append(remove);
    box.append(thumb);
  });
}

function addMessage(role, text) {
  const div = document.createElement('div');
  div.className = `msg ${role}`;
  const media = document.createElement('div');
  media.className = 'media';
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = text;
  div.append(media, body);
  $('chat').append(div);
  div.scrollIntoView({ block: 'end' });
  return { div, media, body };
}

function buildUserMessage(text, attachments, view) {
  const content = [];
  for (const a of attachments) {
    const figure = document.createElement('div');
    figure.className = 'figure';
    figure.append(mediaElement(a.kind, a.dataUrl));
    view.media.append(figure);
    state.figures.push(figure);
    content.push(a.kind === 'video'
      ? { type: 'video_url', video_url: { url: a.dataUrl } }
      : { type: 'image_url', image_url: { url: a.dataUrl } });
  }
  if (text) content.push({ type: 'text', text });
  return { role: 'user', content };
}

// Draws grounding items (original-picture coordinates) over the figure they refer to.
function drawGrounding(extra) {
  if (!extra || !Array.isArray(extra.grounding)) return;
  const byFigure = new Map();
  for (const item of extra.grounding) {
    if (item.media_index === null || item.media_index === undefined) continue;
    const figure = state.figures[item.media_index];
    const info = (extra.media || [])[item.media_index];
    if (!figure || !info) continue;
    if (!byFigure.has(figure)) byFigure.set(figure, { info, items: [] });
    byFigure.get(figure).items.push(item);
  }
  for (const [figure, { info, items }] of byFigure) {
    figure.querySelector('svg.overlay')?.remove();
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'overlay');
    svg.setAttribute('viewBox', `0 0 ${info.original_width} ${info.original_height}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    items.forEach((item, i) => {
      const color = COLORS[i % COLORS.length];
      let shape;
      let x;
      let y;
      if (item.type === 'box') {
        const [x1, y1, x2, y2] = item.bbox_2d;
        shape = document.createElementNS(SVG_NS, 'rect');
        shape.setAttribute('x', x1);
        shape.setAttribute('y', y1);
        shape.setAttribute('width', Math.max(0, x2 - x1));
        shape.setAttribute('height', Math.max(0, y2 - y1));
        shape.setAttribute('class', 'box');
        [x, y] = [x1, Math.max(12, y1 - 3)];
      } else {
        [x, y] = item.point_2d;
        shape = document.createElementNS(SVG_NS, 'circle');
        shape.setAttribute('cx', x);
        shape.setAttribute('cy', y);
        shape.setAttribute('r', Math.max(3, info.original_width / 80));
        shape.setAttribute('fill', color);
        shape.setAttribute('class', 'point');
      }
      shape.setAttribute('stroke', color);
      shape.dataset.label = item.label || '';
      svg.append(shape);
      if (item.label) {
        const label = document.createElementNS(SVG_NS, 'text');
        label.setAttribute('x', x);
        label.setAttribute('y', y);
        label.setAttribute('fill', color);
        label.textContent = item.label;
        svg.append(label);
      }
    });
    figure.append(svg);
  }
}

// Yields the JSON payload of each "data:" event of an SSE response body.
async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (line.startsWith('data: ')) yield line.slice(6);
      }
    }
  }
}

function settings() {
  const num = (id) => { const v = parseFloat($(id).value); return Number.isFinite(v) ? v : undefined; };
  return { temperature: num('temperature'), max_tokens: num('max-tokens'), top_p: num('top-p') };
}

async function streamAnswer(view, body) {
  const headers = { 'Content-Type': 'application/json' };
  if ($('api-key').value) headers.Authorization = `Bearer ${$('api-key').value}`;
  const response = await fetch('/v1/chat/completions', {
    method: 'POST', headers, body: JSON.stringify(body), signal: state.controller.signal,
  });
  if (!response.ok) {
    const err = await response.json().catch(() => ({}));
    throw new Error(err.error?.message || `HTTP ${response.status}`);
  }
  let text = '';
  let usage = null;
  const { signal } = state.controller;
  for await (const data of sseEvents(response.body)) {
    // Stop takes effect at once: events that had already arrived are not shown after it.
    signal.throwIfAborted();
    if (data === '[DONE]') break;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(chunk.error.message);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (choice?.delta?.content) {
      text += choice.delta.content;
      view.body.textContent = text;
    }
    if (chunk.qwenvl) drawGrounding(chunk.qwenvl);
  }
  return { text, usage };
}

async function send() {
  const text = $('prompt').value.trim();
  if (!text && state.attachments.length === 0) return;
  const userView = addMessage('user', text);
  const message = buildUserMessage(text, state.attachments, userView);
  state.attachments = [];
  renderAttachments();
  $('prompt').value = '';
  state.history.push(message);
  const view = addMessage('assistant', '');
  state.controller = new AbortController();
  setBusy(true);
  setStatus('generating…');
  const started = performance.now();
  try {
    const body = { model: state.model, messages: state.history, stream: true,
                   stream_options: { include_usage: true }, ...settings() };
    const { text: answer, usage } = await streamAnswer(view, body);
    state.history.push({ role: 'assistant', content: answer });
    const secs = (performance.now() - started) / 1000;
    setStatus(usage ? `${usage.completion_tokens} tokens in ${secs.toFixed(1)} s` : 'done');
  } catch (e) {
    if (e.name === 'AbortError') {
      setStatus('stopped');
      state.history.push({ role: 'assistant', content: view.body.textContent });
    } else {
      view.div.classList.add('error');
      view.body.textContent = e.message;
      state.history.pop();
      setStatus('error');
    }
  } finally {
    state.controller = null;
    setBusy(false);
  }
}

function setupInput() {
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    addFiles([...e.dataTransfer.files]);
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) { e.preventDefault(); addFiles(files); }
  });
  $('file-input').addEventListener('change', (e) => { addFiles([...e.target.files]); e.target.value = ''; });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); if (!state.controller) send(); }
  });
  $('send').onclick = send;
  $('stop').onclick = () => state.controller?.abort();
  $('clear').onclick = () => {
    state.history = [];
    state.figures = [];
    $('chat').replaceChildren();
    setStatus('');
  };
}

async function init() {
  setupInput();
  setBusy(false);
  try {
    const models = await (await fetch('/v1/models')).json();
    state.model = models.data?.[0]?.id;
    $('model-name').textContent = state.model || '';
  } catch (e) {
    setStatus('cannot reach the server');
  }
}

init();
