// qwenvl web page: a chat with pictures and videos over the server's OpenAI-compatible API.
// The answer streams in over SSE (fetch + ReadableStream) and is rendered as markdown (marked, its
// HTML sanitised by DOMPurify; plain text when the page was built without them); while a picture is
// encoded and the prompt read, the server's progress comments are shown. Boxes and points of a
// grounding answer come from the "qwenvl" field of the final chunk (original-picture coordinates) and
// are drawn as an SVG overlay on the picture. Conversations are kept in the browser's localStorage
// (conversations.js). No external resources.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG_NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6'];

const state = {
  attachments: [],  // {kind: 'image'|'video', dataUrl, name}
  history: [],      // OpenAI messages sent so far (without the system prompt)
  grounding: [],    // the "qwenvl" extras of the answers, redrawn when a conversation is reopened
  figures: [],      // one per picture/video of the conversation, in prompt order
  conversationId: null,
  controller: null,
};

// Markdown to sanitised HTML; null when the libraries are not embedded (the page shows plain text).
const markdownReady = typeof window.marked?.parse === 'function' &&
                      typeof window.DOMPurify?.sanitize === 'function';
function renderAnswer(el, text) {
  if (!markdownReady) { el.textContent = text; return; }
  el.classList.add('markdown');
  // No pictures, styles or forms from an answer: the page loads nothing from elsewhere.
  el.innerHTML = DOMPurify.sanitize(marked.parse(text, { async: false }).trim(), {
    FORBID_TAGS: ['img', 'picture', 'video', 'audio', 'source', 'style', 'form', 'input', 'button'],
    FORBID_ATTR: ['style'],
  });
}

// ": progress {...}" SSE comments sent before the first token (OpenAI clients ignore comments).
// Returns the parsed object, or null for any other line or a malformed one.
function parseProgress(line) {
  const prefix = ': progress ';
  if (!line.startsWith(prefix)) return null;
  let p;
  try { p = JSON.parse(line.slice(prefix.length)); } catch { return null; }
  if (!p || typeof p !== 'object' || (p.phase !== 'vision' && p.phase !== 'prefill')) return null;
  const count = (v) => Number.isSafeInteger(v) && v >= 0;
  if (!count(p.done) || !count(p.total) || p.done > p.total) return null;
  return p;
}

function progressText(p) {
  const what = p.phase === 'vision' ? 'encoding picture' : 'reading prompt';
  const steps = p.total > 0 ? ` ${p.done}/${p.total}` : ' …';
  // The estimate, when there is one (none at the end of a phase, none past a day).
  const eta = Number.isFinite(p.eta_ms) && p.eta_ms > 0 && p.eta_ms < 864e5
    ? ` · ~${Math.max(1, Math.round(p.eta_ms / 1000))} s left` : '';
  return `${what}${steps}${eta}`;
}

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
  if (role === 'assistant' && text) renderAnswer(body, text); else body.textContent = text;
  div.append(media, body);
  $('chat').append(div);
  div.scrollIntoView({ block: 'end' });
  return { div, media, body, raw: text };
}

// Shows a picture or video of a user message (the server numbers them in the same order).
function addFigure(view, kind, src) {
  const figure = document.createElement('div');
  figure.className = 'figure';
  figure.append(mediaElement(kind, src));
  view.media.append(figure);
  state.figures.push(figure);
}

// In place of a picture that was not kept in the browser's storage (not sent again, not numbered).
function addPlaceholder(view, kind) {
  const note = document.createElement('div');
  note.className = 'dropped';
  note.textContent = `(${kind} too large to keep in this browser)`;
  view.media.append(note);
}

function imageBudget() {
  const tokens = parseInt($('image-budget').value, 10);
  // One token of Qwen2.5-VL covers a 28x28 patch of the resized picture.
  return Number.isFinite(tokens) ? tokens * 28 * 28 : undefined;
}

function buildUserMessage(text, attachments, view) {
  const content = [];
  const maxPixels = imageBudget();
  for (const a of attachments) {
    addFigure(view, a.kind, a.dataUrl);
    if (a.kind === 'video') {
      content.push({ type: 'video_url', video_url: { url: a.dataUrl } });
    } else {
      const image = { url: a.dataUrl };
      if (maxPixels) image.max_pixels = maxPixels;
      content.push({ type: 'image_url', image_url: image });
    }
  }
  if (text) content.push({ type: 'text', text });
  return { role: 'user', content };
}

// Shows a stored user message: its pictures and videos, then its text.
function showUserMessage(message) {
  const parts = typeof message.content === 'string'
    ? [{ type: 'text', text: message.content }] : message.content;
  const text = parts.filter((p) => p.type === 'text').map((p) => p.text).join('\n');
  const view = addMessage('user', text);
  for (const p of parts) {
    if (p.type === 'image_url') addFigure(view, 'image', p.image_url?.url);
    else if (p.type === 'video_url') addFigure(view, 'video', p.video_url?.url);
    else if (p.type === 'dropped_media') addPlaceholder(view, p.kind);
  }
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

// Yields each line of an SSE response body that matters here: {data} for a "data:" line,
// {progress} for a progress comment.
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
        if (line.startsWith('data: ')) {
          yield { data: line.slice(6) };
        } else {
          const progress = parseProgress(line);
          if (progress) yield { progress };
        }
      }
    }
  }
}

function settings() {
  const num = (id) => { const v = parseFloat($(id).value); return Number.isFinite(v) ? v : undefined; };
  return { temperature: num('temperature'), max_tokens: num('max-tokens'), top_p: num('top-p') };
}

// Every update re-renders the whole answer: a short one at once, a long one (whose markdown takes
// longer to parse) at most every RENDER_INTERVAL_MS, so that a long answer costs linear time, not
// quadratic. flushRender shows what has arrived when the answer ends or is stopped.
const RENDER_AT_ONCE_CHARS = 4096;
const RENDER_INTERVAL_MS = 100;
function scheduleRender(view) {
  if (view.raw.length < RENDER_AT_ONCE_CHARS) { renderAnswer(view.body, view.raw); return; }
  view.pendingRender ??= setTimeout(() => flushRender(view), RENDER_INTERVAL_MS);
}
function flushRender(view) {
  if (view.pendingRender === undefined) return;
  clearTimeout(view.pendingRender);
  view.pendingRender = undefined;
  renderAnswer(view.body, view.raw);
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
  let usage = null;
  let extra = null;
  let answering = false;
  const { signal } = state.controller;
  for await (const { data, progress } of sseEvents(response.body)) {
    // Stop takes effect at once: events that had already arrived are not shown after it.
    signal.throwIfAborted();
    if (progress) {
      if (!answering) setStatus(progressText(progress));
      continue;
    }
    if (data === '[DONE]') break;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(chunk.error.message);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (choice?.delta?.content) {
      if (!answering) setStatus('generating…');
      answering = true;
      view.raw += choice.delta.content;
      scheduleRender(view);
    }
    if (chunk.qwenvl) { extra = chunk.qwenvl; drawGrounding(extra); }
  }
  return { text: view.raw, usage, extra };
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
  setStatus('waiting for the server…');
  const started = performance.now();
  try {
    const system = $('system').value.trim();
    const history = Conversations.forRequest(state.history);
    const messages = system ? [{ role: 'system', content: system }, ...history] : history;
    const body = { model: state.model, messages, stream: true,
                   stream_options: { include_usage: true }, ...settings() };
    const { text: answer, usage, extra } = await streamAnswer(view, body);
    state.history.push({ role: 'assistant', content: answer });
    if (extra) state.grounding.push(extra);
    const secs = (performance.now() - started) / 1000;
    setStatus(usage ? `${usage.completion_tokens} tokens in ${secs.toFixed(1)} s` : 'done');
  } catch (e) {
    if (e.name === 'AbortError') {
      setStatus('stopped');
      state.history.push({ role: 'assistant', content: view.raw });
    } else {
      view.div.classList.add('error');
      view.body.textContent = e.message;
      state.history.pop();
      setStatus('error');
    }
  } finally {
    if (view.div.classList.contains('error')) {
      clearTimeout(view.pendingRender);  // the error message stays
      view.pendingRender = undefined;
    } else {
      flushRender(view);
    }
    state.controller = null;
    setBusy(false);
    saveCurrent();
  }
}

// The current conversation into the browser's storage (after every answer, stopped ones included).
function saveCurrent() {
  if (state.history.length === 0) return;
  state.conversationId ??= Conversations.newId();
  const note = Conversations.save({
    id: state.conversationId, system: $('system').value, messages: state.history,
    grounding: state.grounding,
  });
  $('storage-note').textContent = note;
  renderConversationList();
}

function startNewChat() {
  state.history = [];
  state.grounding = [];
  state.figures = [];
  state.conversationId = null;
  $('chat').replaceChildren();
  $('system').value = '';
  setStatus('');
  renderConversationList();
}

function openConversation(id) {
  const c = Conversations.load(id);
  if (!c || state.controller) return false;
  startNewChat();
  state.conversationId = c.id;
  state.history = c.messages;
  state.grounding = Array.isArray(c.grounding) ? c.grounding : [];
  $('system').value = c.system || '';
  for (const m of c.messages) {
    if (m.role === 'user') showUserMessage(m);
    else addMessage('assistant', typeof m.content === 'string' ? m.content : '');
  }
  for (const extra of state.grounding) {
    try { drawGrounding(extra); } catch { /* a stored extra of another shape: not drawn */ }
  }
  Conversations.setCurrent(c.id);
  renderConversationList();
  return true;
}

function renderConversationList() {
  const list = $('conversations');
  list.replaceChildren();
  for (const c of Conversations.list()) {
    const li = document.createElement('li');
    if (c.id === state.conversationId) li.className = 'current';
    const open = document.createElement('button');
    open.className = 'open';
    open.textContent = c.title;
    open.title = new Date(c.updated).toLocaleString();
    open.onclick = () => openConversation(c.id);
    const remove = document.createElement('button');
    remove.className = 'delete';
    remove.textContent = '×';
    remove.title = `delete "${c.title}"`;
    remove.onclick = () => {
      Conversations.remove(c.id);
      if (c.id === state.conversationId && !state.controller) startNewChat();
      renderConversationList();
    };
    li.append(open, remove);
    list.append(li);
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
  $('clear').onclick = () => { if (!state.controller) { startNewChat(); Conversations.setCurrent(null); } };
}

async function init() {
  setupInput();
  setBusy(false);
  if (!markdownReady) $('storage-note').textContent = 'answers shown as plain text (no markdown libraries)';
  const current = Conversations.current();
  if (!current || !openConversation(current)) renderConversationList();
  try {
    const models = await (await fetch('/v1/models')).json();
    state.model = models.data?.[0]?.id;
    $('model-name').textContent = state.model || '';
  } catch (e) {
    setStatus('cannot reach the server');
  }
}

init();
