// The eventgate developer portal: the API list, the try-it console, the stream timeline and
// the gateway's live view. Plain JavaScript, no dependency, served from the binary.
'use strict';

const MAX_ENTRIES = 500;          // timeline entries kept; older ones are dropped
const MAX_LINE = 1 << 20;         // a line longer than 1 MiB ends the stream
const MAX_SEEN_IDS = 10000;       // ids remembered for the duplicate check
const MAX_SHOWN = 64 * 1024;      // characters of one event's data shown in the timeline
const MAX_MERGED = 1 << 20;       // characters of merged deltas kept (the tail)
const STATS_EVERY_MS = 2000;
const APIS_EVERY_MS = 10000;
const DEFAULT_RETRY_MS = 1000;

const $ = (id) => document.getElementById(id);
let apis = [];
let session = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

function clock(t) {
  const d = new Date(t);
  const p = (n, w) => String(n).padStart(w, '0');
  return `${p(d.getHours(), 2)}:${p(d.getMinutes(), 2)}:${p(d.getSeconds(), 2)}.${p(d.getMilliseconds(), 3)}`;
}

// ---- the API list -------------------------------------------------------------------------

let apisText = null;
async function loadApis() {
  const box = $('apis');
  let text;
  try {
    const res = await fetch('/devportal/api/apis', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
    if (text === apisText) return; // unchanged: keep the page as the reader left it
    apis = JSON.parse(text).apis || [];
    apisText = text;
  } catch (e) {
    if (apisText === null) {
      box.replaceChildren(el('p', { class: 'muted', text: `Cannot load the APIs: ${e.message}` }));
    }
    return;
  }
  if (apis.length === 0) {
    box.replaceChildren(el('p', { class: 'muted', text: 'No API is published yet.' }));
  } else {
    box.replaceChildren(...apis.map(renderApi));
  }
  const sel = $('api');
  const [api, topic] = [sel.value, $('topic').value];
  sel.replaceChildren(...apis.map((a) => el('option', { value: a.id, text: `${a.name} ${a.version}` })));
  if (apis.some((a) => a.id === api)) sel.value = api;
  const t = $('topic');
  onApiChange();
  if ([...t.options].some((o) => o.value === topic) && t.value !== topic) {
    t.value = topic;
    onTopicChange();
  }
}

function credentialsOf(a) {
  const out = [];
  if (a.security.bearer) out.push('OAuth2 token (Authorization: Bearer)');
  if (a.security.api_key_header) out.push(`API key (header ${a.security.api_key_header})`);
  if (a.security.query_param) out.push(`query parameter ${a.security.query_param}`);
  return out.join(', ') || 'none';
}

function renderApi(a) {
  const topics = el('table', {},
    el('caption', { text: 'Topics' }),
    el('thead', {}, el('tr', {},
      ...['Topic', 'Parameters', 'Scopes', 'Auth', 'Delivery'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, ...a.topics.map((t) => el('tr', {},
      el('td', {}, el('code', { text: a.path + t.topic })),
      el('td', { text: t.parameters.join(', ') || '-' }),
      el('td', { text: t.scopes.join(', ') || '-' }),
      el('td', { text: t.auth_type }),
      el('td', { text: t.delivery === 'shared' ? 'fan-out' : 'per client' })))));
  const docs = ['2.0.0', '3.0.0'].map((v) => {
    const href = `/devportal/api/apis/${encodeURIComponent(a.id)}/asyncapi?version=${v}`;
    const pre = el('pre', { tabIndex: 0, 'aria-label': `AsyncAPI ${v} document of ${a.id}` });
    const details = el('details', {}, el('summary', { text: `AsyncAPI ${v}` }),
      el('p', {}, el('a', { href, download: `${a.name}-${a.version}-asyncapi-${v}.json`, text: 'Download' })), pre);
    details.addEventListener('toggle', async () => {
      if (!details.open || pre.textContent) return;
      try {
        const res = await fetch(href, { cache: 'no-store' });
        pre.textContent = JSON.stringify(await res.json(), null, 2);
      } catch (e) {
        pre.textContent = `Cannot load: ${e.message}`;
      }
    });
    return details;
  });
  const tryIt = el('button', { type: 'button', text: 'Try it' });
  tryIt.addEventListener('click', () => {
    $('api').value = a.id;
    onApiChange();
    $('credential').focus();
  });
  return el('article', { class: 'api', 'data-api': a.id, 'aria-labelledby': `api-${cssId(a.id)}` },
    el('h3', { id: `api-${cssId(a.id)}` }, a.name, el('span', { class: 'badge', text: a.version }),
      el('span', { class: `badge ${a.lifecycle}`, text: a.lifecycle })),
    a.description ? el('p', { text: a.description }) : null,
    el('dl', {},
      el('dt', { text: 'Context' }), el('dd', {}, el('code', { text: a.context })),
      el('dt', { text: 'Base path' }), el('dd', {}, el('code', { text: a.path })),
      el('dt', { text: 'Plans' }), el('dd', { text: a.plans.join(', ') || '-' }),
      el('dt', { text: 'Credentials' }), el('dd', { text: credentialsOf(a) }),
      el('dt', { text: 'Transports' }), el('dd', { text: a.transports }),
      el('dt', { text: 'Deployed on' }), el('dd', {
        text: a.deployments.map((d) => `${d.environment} @ ${d.vhost} (revision ${d.revision})`).join(', ') || '-',
      })),
    el('div', { class: 'scroll' }, topics),
    ...docs,
    tryIt);
}

function cssId(s) { return s.replace(/[^A-Za-z0-9_-]/g, '_'); }

// ---- the console --------------------------------------------------------------------------

function currentApi() { return apis.find((a) => a.id === $('api').value); }
function currentTopic() {
  const a = currentApi();
  return a && a.topics.find((t) => t.topic === $('topic').value);
}

function onApiChange() {
  const a = currentApi();
  $('topic').replaceChildren(...(a ? a.topics : []).map((t) => el('option', { value: t.topic, text: t.topic })));
  onTopicChange();
}

function onTopicChange() {
  const t = currentTopic();
  const box = $('params');
  if (!t || t.parameters.length === 0) {
    box.replaceChildren(el('span', { class: 'muted', text: 'none' }));
  } else {
    box.replaceChildren(...t.parameters.map((p) => el('label', {}, p,
      el('input', { 'data-param': p, required: true, autocomplete: 'off', spellcheck: false }))));
    for (const i of box.querySelectorAll('input')) i.addEventListener('input', updatePreview);
  }
  updatePreview();
}

// The topic path with its parameters filled; `*` matches any rest of the path.
function topicPath(t) {
  let path = t.topic;
  for (const input of $('params').querySelectorAll('input[data-param]')) {
    path = path.replace(`{${input.dataset.param}}`, encodeURIComponent(input.value));
  }
  return path.replace(/\/\*$/, '/');
}

function requestFor() {
  const a = currentApi();
  const t = currentTopic();
  if (!a || !t) return null;
  const url = new URL(a.path + topicPath(t), location.origin);
  const transport = $('transport').value;
  const kind = $('cred-kind').value;
  const cred = $('credential').value.trim();
  const headers = { Accept: 'text/event-stream' };
  let problem = null;
  if (transport === 'eventsource') {
    if (!a.security.query_param) problem = `${a.id} reads no query credential: use fetch`;
    else if (cred) url.searchParams.set(a.security.query_param, cred);
  } else if (cred) {
    if (kind === 'jwt') {
      if (!a.security.bearer) problem = `${a.id} takes no OAuth2 token`;
      headers.Authorization = `Bearer ${cred}`;
    } else {
      if (!a.security.api_key_header) problem = `${a.id} takes no API key header`;
      headers[a.security.api_key_header || 'apikey'] = cred;
    }
  }
  return { url: url.toString(), headers, transport, problem };
}

function updatePreview() {
  const r = requestFor();
  const masked = r ? r.url.replace(/(access_token|[?&][^=]*token[^=]*)=[^&]*/gi, '$1=...') : '';
  $('url-preview').textContent = r ? `GET ${masked}` : '';
  const es = $('transport').value === 'eventsource';
  $('last-id').disabled = es;
  $('transport-note').textContent = es
    ? 'EventSource sends no header of ours: the credential goes in the query string (short-lived tokens only), the browser sends Last-Event-ID itself on reconnect, and only "message" and "eventgate-error" events are listened to.'
    : 'fetch sends the credential in a header and Last-Event-ID on each reconnect; every event type is shown.';
}

// ---- the timeline -------------------------------------------------------------------------

const timeline = {
  paused: false,
  pending: [],
  dropped: 0,
  types: new Set(),
  add(kind, summary, body, extra) {
    const li = el('li', Object.assign({ 'data-kind': kind }, extra || {}),
      el('span', { class: 'time', text: clock(Date.now()) }),
      el('span', { class: 'kind', text: kind }),
      el('span', { class: 'what' }, summary, body ? el('pre', { text: body }) : null));
    if (kind === 'event') this.noteType(li.dataset.type);
    this.applyFilter(li);
    if (this.paused) {
      this.pending.push(li);
      if (this.pending.length > MAX_ENTRIES) { this.pending.shift(); this.dropped++; }
    } else {
      this.append(li);
    }
    return li;
  },
  append(li) {
    const ol = $('timeline');
    ol.append(li);
    while (ol.children.length > MAX_ENTRIES) { ol.firstElementChild.remove(); this.dropped++; }
    if ($('autoscroll').checked) ol.scrollTop = ol.scrollHeight;
  },
  noteType(type) {
    if (this.types.has(type)) return;
    this.types.add(type);
    $('filter').append(el('option', { value: type, text: type }));
  },
  applyFilter(li) {
    const f = $('filter').value;
    li.classList.toggle('hidden', f !== '' && li.dataset.kind === 'event' && li.dataset.type !== f);
  },
  refilter() { for (const li of $('timeline').children) this.applyFilter(li); },
  setPaused(p) {
    this.paused = p;
    $('pause').setAttribute('aria-pressed', String(p));
    $('pause').textContent = p ? 'Resume' : 'Pause';
    if (!p) { for (const li of this.pending) this.append(li); this.pending = []; }
  },
  clear() {
    $('timeline').replaceChildren();
    this.pending = [];
    this.dropped = 0;
  },
};

function showTotals() {
  const s = session;
  if (!s) return;
  const secs = ((performance.now() - s.started) / 1000).toFixed(1);
  $('totals').textContent = `${s.events} events, ${s.bytes} bytes, ${s.reconnects} reconnects, ${secs} s` +
    (timeline.dropped ? `, ${timeline.dropped} old entries dropped` : '');
}

function pretty(data) {
  if (data.length > MAX_SHOWN) {
    return `${data.slice(0, MAX_SHOWN)}\n... (${data.length - MAX_SHOWN} more characters not shown)`;
  }
  if (!$('pretty').checked) return data;
  try { return JSON.stringify(JSON.parse(data), null, 2); } catch { return data; }
}

// `a.b[0].c` (an optional leading `$.`): the value there, or undefined.
function atPath(value, path) {
  const parts = path.replace(/^\$\.?/, '').match(/[^.[\]]+|\[\d+\]/g) || [];
  let v = value;
  for (const p of parts) {
    if (v === null || v === undefined) return undefined;
    v = p.startsWith('[') ? v[Number(p.slice(1, -1))] : v[p];
  }
  return v;
}

// An event arrived: the duplicate check, the merge, the entry.
function onEvent(s, type, data, id) {
  s.events++;
  s.bytes += data.length;
  if (id) {
    if (s.seen.has(id)) {
      timeline.add('duplicate', `id ${id} was already received`, null, { 'data-id': id });
    }
    s.seen.set(id, true);
    if (s.seen.size > MAX_SEEN_IDS) s.seen.delete(s.seen.keys().next().value);
  }
  const mergePath = $('merge').value.trim();
  if (mergePath) {
    try {
      const piece = atPath(JSON.parse(data), mergePath);
      if (typeof piece === 'string') {
        s.merged += piece;
        if (s.merged.length > MAX_MERGED) s.merged = s.merged.slice(-MAX_MERGED);
        const out = $('merged');
        out.hidden = false;
        out.value = s.merged;
      }
    } catch { /* not JSON: nothing to merge */ }
  }
  const summary = el('span', {}, el('code', { text: type }), id ? ` id ${id}` : ' (no id)');
  timeline.add('event', summary, pretty(data), { 'data-type': type, 'data-id': id || '' });
  showTotals();
}

// The WSO2 error of a refused request, as the timeline shows it.
function describeRefusal(status, text) {
  try {
    const j = JSON.parse(text);
    const e = j.error || j.fault || j;
    if (e.code) return `${status}: ${e.code} ${e.message || ''}${e.description ? ` (${e.description})` : ''}`;
  } catch { /* not JSON */ }
  return `${status}: ${text.slice(0, 200)}`;
}

// The text/event-stream parser of the HTML standard, over decoded text chunks.
class SseParser {
  constructor(handlers) {
    this.h = handlers;
    this.buf = '';
    this.first = true;
    this.data = [];
    this.type = '';
    this.idSeen = false;
    this.id = '';
  }
  push(text) {
    if (this.first) { text = text.replace(/^\uFEFF/, ''); this.first = false; }
    this.buf += text;
    let start = 0;
    for (;;) {
      const m = /\r\n|\r|\n/g;
      m.lastIndex = start;
      const found = m.exec(this.buf);
      if (!found) break;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (found[0] === '\r' && found.index === this.buf.length - 1) break;
      this.line(this.buf.slice(start, found.index));
      start = found.index + found[0].length;
    }
    this.buf = this.buf.slice(start);
    if (this.buf.length > MAX_LINE) throw new Error('a line longer than 1 MiB');
  }
  line(l) {
    if (l === '') return this.dispatch();
    if (l[0] === ':') return this.h.comment(l.slice(1).replace(/^ /, ''));
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    const value = i < 0 ? '' : l.slice(i + 1).replace(/^ /, '');
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) { this.idSeen = true; this.id = value; }
    else if (field === 'retry' && /^\d+$/.test(value)) this.h.retry(Number(value));
  }
  dispatch() {
    const had = this.idSeen;
    if (had) { this.h.id(this.id); this.idSeen = false; }
    if (this.data.length) this.h.event(this.type || 'message', this.data.join('\n'), had ? this.id : null);
    this.data = [];
    this.type = '';
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

async function runFetch(s, req) {
  const decoder = new TextDecoder();
  while (!s.abort.signal.aborted) {
    const headers = Object.assign({}, req.headers);
    if (s.lastId) headers['Last-Event-ID'] = s.lastId;
    if (s.attempts > 0) {
      s.reconnects++;
      timeline.add('reconnect', s.lastId ? `Last-Event-ID: ${s.lastId}` : 'no Last-Event-ID (no id received yet)',
        null, { 'data-last-event-id': s.lastId || '' });
    }
    s.attempts++;
    const t0 = performance.now();
    let res;
    try {
      res = await fetch(req.url, { headers, cache: 'no-store', signal: s.abort.signal });
    } catch (e) {
      if (s.abort.signal.aborted) break;
      timeline.add('error', `network error: ${e.message}; retrying in ${s.retry} ms`);
      await sleep(s.retry, s.abort.signal);
      continue;
    }
    const headersMs = Math.round(performance.now() - t0);
    const type = res.headers.get('content-type') || '';
    if (res.status !== 200 || !type.startsWith('text/event-stream')) {
      const text = await res.text().catch(() => '');
      timeline.add('error', `refused, ${describeRefusal(res.status, text)}`, null, { 'data-status': res.status });
      break; // as EventSource: a refusal is final
    }
    const open = timeline.add('open', `HTTP ${res.status}, headers in ${headersMs} ms`, null, { 'data-status': 200 });
    const parser = new SseParser({
      comment: (c) => timeline.add('comment', c.length > 1000 ? `${c.slice(0, 1000)}...` : c),
      retry: (ms) => { s.retry = ms; },
      id: (id) => {
        if (id === '') timeline.add('reset', 'the server reset the last event id');
        s.lastId = id;
      },
      event: (t, data, id) => onEvent(s, t, data, id),
    });
    const reader = res.body.getReader();
    let first = true;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (first) {
          first = false;
          open.querySelector('.what').append(`, first byte in ${Math.round(performance.now() - t0)} ms`);
        }
        parser.push(decoder.decode(value, { stream: true }));
      }
      if (s.abort.signal.aborted) break;
      timeline.add('end', `the server ended the stream; reconnecting in ${s.retry} ms`, null, { 'data-ended': 'server' });
    } catch (e) {
      if (s.abort.signal.aborted) break;
      timeline.add('error', `stream failed: ${e.message}; reconnecting in ${s.retry} ms`);
    }
    await sleep(s.retry, s.abort.signal);
  }
}

function runEventSource(s, req) {
  return new Promise((resolve) => {
    const es = new EventSource(req.url);
    const t0 = performance.now();
    let everOpen = false;
    // EventSource keeps the last id for events that carry none (the gateway's own
    // eventgate-error): only messages are checked for duplicates.
    const handler = (ev) => {
      if (ev.lastEventId) s.lastId = ev.lastEventId;
      onEvent(s, ev.type, ev.data, ev.type === 'message' ? ev.lastEventId : null);
    };
    es.addEventListener('message', handler);
    es.addEventListener('eventgate-error', handler);
    es.onopen = () => {
      if (everOpen) {
        s.reconnects++;
        timeline.add('reconnect', s.lastId ? `Last-Event-ID: ${s.lastId} (sent by the browser)` : 'no Last-Event-ID',
          null, { 'data-last-event-id': s.lastId || '' });
      }
      everOpen = true;
      timeline.add('open', `open in ${Math.round(performance.now() - t0)} ms`, null, { 'data-status': 200 });
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        timeline.add('error', everOpen ? 'the browser closed the stream'
          : 'refused (EventSource shows no status or body: try fetch to see the WSO2 error)');
        resolve();
      } else {
        timeline.add('end', 'the stream dropped; the browser reconnects', null, { 'data-ended': 'server' });
      }
    };
    s.abort.signal.addEventListener('abort', () => { es.close(); resolve(); }, { once: true });
  });
}

async function connect(ev) {
  ev.preventDefault();
  if (session) disconnect();
  const req = requestFor();
  if (!req) return;
  if (req.problem) { timeline.add('error', req.problem); return; }
  const s = {
    abort: new AbortController(), started: performance.now(), attempts: 0, reconnects: 0,
    events: 0, bytes: 0, retry: DEFAULT_RETRY_MS, seen: new Map(), merged: '',
    lastId: req.transport === 'fetch' ? $('last-id').value.trim() || null : null,
  };
  session = s;
  $('merged').hidden = true;
  $('merged').value = '';
  $('connect').disabled = true;
  $('disconnect').disabled = false;
  timeline.add('connect', `${req.transport} ${$('url-preview').textContent}` +
    (s.lastId ? ` with Last-Event-ID: ${s.lastId}` : ''));
  await (req.transport === 'fetch' ? runFetch(s, req) : runEventSource(s, req));
  finish(s);
}

function finish(s) {
  if (s.finished) return;
  s.finished = true;
  const secs = ((performance.now() - s.started) / 1000).toFixed(1);
  timeline.add('close', `${s.events} events, ${s.bytes} bytes, ${s.reconnects} reconnects in ${secs} s`);
  showTotals();
  if (session === s) {
    session = null;
    $('connect').disabled = false;
    $('disconnect').disabled = true;
  }
}

function disconnect() {
  const s = session;
  if (!s) return;
  s.abort.abort();
  finish(s);
}

// ---- the live view ------------------------------------------------------------------------

let lastStats = null;
async function pollStats() {
  try {
    const res = await fetch('/devportal/api/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const now = await res.json();
    const prev = lastStats;
    lastStats = now;
    const rows = now.apis.map((a) => {
      const before = prev && prev.apis.find((p) => p.api === a.api);
      const secs = prev ? (now.now_ms - prev.now_ms) / 1000 : 0;
      const rate = before && secs > 0 ? ((a.events_out - before.events_out) / secs).toFixed(1) : '-';
      return el('tr', { 'data-api': a.api },
        el('th', { scope: 'row', text: a.api }),
        el('td', { class: 'num', 'data-field': 'streams_open', text: String(a.streams_open) }),
        el('td', { class: 'num', 'data-field': 'rate', text: rate }),
        el('td', { class: 'num', 'data-field': 'events_out', text: String(a.events_out) }));
    });
    $('stats').tBodies[0].replaceChildren(...rows);
    $('stats-status').textContent = `Updated ${clock(now.now_ms)}; upstream channels open: ${now.channels_open}`;
  } catch (e) {
    $('stats-status').textContent = `Cannot read the gateway's counters: ${e.message}`;
  }
}

// ---- start --------------------------------------------------------------------------------

function start() {
  $('api').addEventListener('change', onApiChange);
  $('topic').addEventListener('change', onTopicChange);
  for (const id of ['transport', 'cred-kind', 'credential']) {
    $(id).addEventListener('input', updatePreview);
    $(id).addEventListener('change', updatePreview);
  }
  $('connect-form').addEventListener('submit', connect);
  $('disconnect').addEventListener('click', disconnect);
  $('pause').addEventListener('click', () => timeline.setPaused(!timeline.paused));
  $('clear').addEventListener('click', () => timeline.clear());
  $('filter').addEventListener('change', () => timeline.refilter());
  // A credential handed over in the fragment (never sent to the server): #token=...
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    $('credential').value = hash.get('token');
    history.replaceState(null, '', location.pathname + location.search);
  }
  loadApis();
  setInterval(loadApis, APIS_EVERY_MS);
  pollStats();
  setInterval(pollStats, STATS_EVERY_MS);
}

start();
