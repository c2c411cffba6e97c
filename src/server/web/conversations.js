// Conversations kept in the browser's localStorage, so that a reload or a later visit finds them.
// One key holds every conversation ({id, title, updated, system, messages, grounding}, messages as
// the OpenAI messages sent), newest first. Bounded:
//   - at most MAX_CONVERSATIONS; the oldest go first;
//   - a picture or video larger than MAX_MEDIA_CHARS as a data URL is not kept: the stored message
//     holds {type: 'dropped_media', kind, chars} instead, shown as a placeholder and sent to the
//     server as a short text part;
//   - the whole under MAX_TOTAL_CHARS (browsers allow about 5 MB per site): older conversations go
//     first, then the pictures of the one being saved; a quota error from the browser is handled
//     the same way.
'use strict';

const Conversations = (() => {
  const KEY = 'qwenvl.conversations.v1';
  const CURRENT_KEY = 'qwenvl.current';
  const MAX_CONVERSATIONS = 50;
  const MAX_MEDIA_CHARS = 512 * 1024;
  const MAX_TOTAL_CHARS = 4 * 1024 * 1024;
  const TITLE_CHARS = 60;

  // What the page wrote: anything else in the key (another version, a hand edit) is left out.
  const isPart = (p) => p && typeof p === 'object' && typeof p.type === 'string';
  const isMessage = (m) => m && typeof m.role === 'string' &&
    (typeof m.content === 'string' || (Array.isArray(m.content) && m.content.every(isPart)));
  const isConversation = (c) => c && typeof c.id === 'string' && typeof c.title === 'string' &&
    Array.isArray(c.messages) && c.messages.every(isMessage);

  function readAll() {
    try {
      const all = JSON.parse(localStorage.getItem(KEY) || '[]');
      return Array.isArray(all) ? all.filter(isConversation) : [];
    } catch {
      return [];  // unreadable (edited by hand, another version): start afresh
    }
  }

  function writeAll(all) {
    const text = JSON.stringify(all);
    if (text.length > MAX_TOTAL_CHARS) return false;
    try {
      localStorage.setItem(KEY, text);
      return true;
    } catch {
      return false;  // QuotaExceededError, or storage disabled
    }
  }

  function titleOf(messages) {
    for (const m of messages) {
      if (m.role !== 'user') continue;
      const parts = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
      const text = parts.find((p) => p.type === 'text' && p.text)?.text;
      if (text) return text.length > TITLE_CHARS ? `${text.slice(0, TITLE_CHARS - 1)}…` : text;
      if (parts.length) return '(picture)';
    }
    return '(empty)';
  }

  function mediaUrl(part) {
    if (part.type === 'image_url') return part.image_url?.url;
    if (part.type === 'video_url') return part.video_url?.url;
    return undefined;
  }

  // A copy of the messages with the pictures and videos larger than `limit` replaced.
  function withoutLargeMedia(messages, limit) {
    let dropped = 0;
    const out = messages.map((m) => {
      if (typeof m.content === 'string') return m;
      return { ...m, content: m.content.map((p) => {
        const url = mediaUrl(p);
        if (url === undefined || url.length <= limit) return p;
        dropped += 1;
        return { type: 'dropped_media', kind: p.type === 'video_url' ? 'video' : 'image', chars: url.length };
      }) };
    });
    return { messages: out, dropped };
  }

  return {
    newId() {
      return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    },

    list() {
      return readAll().map(({ id, title, updated }) => ({ id, title, updated }));
    },

    load(id) {
      return readAll().find((c) => c.id === id) || null;
    },

    // Saves (replaces) a conversation and makes it the current one. Returns a note for the page:
    // empty, or what was not kept.
    save({ id, system, messages, grounding }) {
      const others = readAll().filter((c) => c.id !== id).slice(0, MAX_CONVERSATIONS - 1);
      let { messages: kept, dropped } = withoutLargeMedia(messages, MAX_MEDIA_CHARS);
      const entry = { id, title: titleOf(messages), updated: Date.now(), system, messages: kept,
                      grounding: dropped ? [] : grounding };
      let removed = 0;
      // Older conversations go first, then this one's pictures, until it fits.
      while (!writeAll([entry, ...others])) {
        if (others.length) {
          others.pop();
          removed += 1;
        } else if (entry.messages.some((m) => Array.isArray(m.content) &&
                                              m.content.some((p) => mediaUrl(p) !== undefined))) {
          ({ messages: entry.messages, dropped } = withoutLargeMedia(messages, 0));
          entry.grounding = [];
        } else {
          return 'this conversation is too large to keep in the browser';
        }
      }
      this.setCurrent(id);
      const notes = [];
      if (dropped) notes.push(`${dropped} picture(s) too large to keep in the browser`);
      if (removed) notes.push(`${removed} older conversation(s) removed to make room`);
      return notes.join('; ');
    },

    remove(id) {
      writeAll(readAll().filter((c) => c.id !== id));
      if (this.current() === id) this.setCurrent(null);
    },

    current() {
      try { return localStorage.getItem(CURRENT_KEY); } catch { return null; }
    },

    setCurrent(id) {
      try {
        if (id) localStorage.setItem(CURRENT_KEY, id); else localStorage.removeItem(CURRENT_KEY);
      } catch { /* storage disabled: nothing is kept */ }
    },

    // The messages as sent to the server: a picture that was not kept becomes a short text part.
    forRequest(messages) {
      return messages.map((m) => (typeof m.content === 'string' ? m : {
        ...m,
        content: m.content.map((p) => (p.type === 'dropped_media'
          ? { type: 'text', text: `(${p.kind === 'video' ? 'a video' : 'a picture'} that is no longer available)` } : p)),
      }));
    },
  };
})();
