// The developer portal in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser download). Run by tests/clients.rs:
//
//   node browser.mjs GATEWAY_URL TOKEN SCREENSHOT_PATH
//
// Prints one JSON object per line: {"step": ...} as it goes; {"step":"cut","last_id":N} when
// the test should make the gateway drop the stream (the test answers by a line on stdin), and
// a final {"step":"done", ...} with what it saw. Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import http from 'node:http';
import readline from 'node:readline';

const [gateway, token, screenshot] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));
const stdin = readline.createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

function chromiumPath() {
  return process.env.CHROMIUM || '/usr/bin/chromium';
}

const browser = await chromium.launch({
  executablePath: chromiumPath(),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const consoleErrors = [];
let expect401 = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (expect401 && /status of 401/.test(m.text())) return;
    consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));

  await page.goto(`${gateway}/devportal/`);
  await page.waitForSelector('article[data-api="Observer:1.0.0"]', { timeout: 10000 });
  const listed = await page.$$eval('article.api h3', (hs) => hs.map((h) => h.textContent));
  say({ step: 'listed', apis: listed });
  await page.waitForFunction(() => document.querySelector('#stats-status').textContent.startsWith('Updated'),
    null, { timeout: 10000 });
  // Both AsyncAPI exports open in place.
  const asyncapi = {};
  for (const v of ['2.0.0', '3.0.0']) {
    await page.click(`article[data-api="Observer:1.0.0"] summary:text("AsyncAPI ${v}")`);
    const pre = `article[data-api="Observer:1.0.0"] details[open] pre[aria-label^="AsyncAPI ${v}"]`;
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.length > 0, pre, { timeout: 10000 });
    asyncapi[v] = JSON.parse(await page.textContent(pre)).asyncapi;
    await page.click(`article[data-api="Observer:1.0.0"] summary:text("AsyncAPI ${v}")`);
  }

  // The console: the demo token in the Authorization header, over fetch.
  await page.fill('#credential', token);
  await page.selectOption('#transport', 'fetch');
  await page.click('#connect');
  const events = 'li[data-kind="event"][data-type="message"]';
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 2, events, { timeout: 15000 });
  const before = await page.$$eval(events, (ls) => ls.map((l) => l.dataset.id));
  say({ step: 'cut', last_id: before[before.length - 1] });
  await lines.next(); // the test has made the gateway drop the stream
  await page.waitForSelector('li[data-kind="reconnect"]', { timeout: 15000 });
  await page.waitForFunction(
    (sel) => {
      const all = [...document.querySelectorAll('#timeline li')];
      const r = all.findIndex((l) => l.dataset.kind === 'reconnect');
      return all.slice(r).filter((l) => l.matches(sel)).length >= 2;
    },
    events,
    { timeout: 15000 },
  );
  const ids = await page.$$eval(events, (ls) => ls.map((l) => l.dataset.id));
  const reconnects = await page.$$eval('li[data-kind="reconnect"]', (ls) => ls.map((l) => ({
    last_event_id: l.dataset.lastEventId, text: l.textContent,
  })));
  const duplicates = await page.$$eval('li[data-kind="duplicate"]', (ls) => ls.length);
  const ended = await page.$$eval('li[data-ended="server"]', (ls) => ls.length);
  const opens = await page.$$eval('li[data-kind="open"]', (ls) => ls.map((l) => l.textContent));
  // The live view counts this stream.
  await page.waitForFunction(() => {
    const c = document.querySelector('#stats tr[data-api="Observer:1.0.0"] td[data-field="streams_open"]');
    return c && Number(c.textContent) >= 1;
  }, null, { timeout: 10000 });
  await page.waitForFunction(() => {
    const c = document.querySelector('#stats tr[data-api="Observer:1.0.0"] td[data-field="rate"]');
    return c && Number(c.textContent) > 0;
  }, null, { timeout: 10000 });
  const streamsOpen = await page.$eval('#stats tr[data-api="Observer:1.0.0"] td[data-field="streams_open"]', (c) => Number(c.textContent));
  await page.click('#disconnect');
  await page.waitForSelector('li[data-kind="close"]', { timeout: 5000 });
  await page.screenshot({ path: screenshot, fullPage: true });

  // The console's EventSource mode: the credential in the query string.
  await page.click('#clear');
  await page.selectOption('#transport', 'eventsource');
  const preview = await page.textContent('#url-preview');
  // By keyboard: Enter in the credential field submits the form.
  await page.focus('#credential');
  await page.keyboard.press('Enter');
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 2, events, { timeout: 15000 });
  const esIds = await page.$$eval(events, (ls) => ls.map((l) => l.dataset.id));
  await page.click('#disconnect');

  // The page's own stream parser and timeline, in this browser: chunks split anywhere
  // (inside \r\n too), comments, multi-line data, an id reset, the merge path, the bound.
  const parsed = await page.evaluate(() => {
    const out = [];
    const p = new SseParser({
      comment: (c) => out.push(['comment', c]),
      retry: (ms) => out.push(['retry', ms]),
      id: (id) => out.push(['id', id]),
      event: (t, d, id) => out.push(['event', t, d, id]),
    });
    const text = '\uFEFF: hi\r\nretry: 250\r\nid: 1\r\ndata: a\r\ndata: b\r\n\r\nevent: delta\ndata: {"x":1}\n\nid\ndata: c\n\n';
    for (let i = 0; i < text.length; i += 3) p.push(text.slice(i, i + 3));
    const merged = atPath({ choices: [{ delta: { content: 'hé' } }] }, '$.choices[0].delta.content');
    timeline.clear();
    for (let i = 0; i < 600; i++) timeline.add('comment', `c${i}`);
    const kept = document.querySelectorAll('#timeline li').length;
    const first = document.querySelector('#timeline li .what').textContent;
    return { out, merged, kept, first, dropped: timeline.dropped };
  });

  // Keyboard: Tab reaches the console's controls, each with a label.
  const unlabeled = await page.$$eval('input, select', (xs) => xs
    .filter((x) => !(x.labels && x.labels.length) && !x.getAttribute('aria-label'))
    .map((x) => x.id || x.outerHTML));
  // A bad token over fetch: the timeline shows WSO2's refusal. Chromium logs the 401 it
  // loaded as a console error: that one line is expected here, any other is not.
  expect401 = true;
  await page.selectOption('#transport', 'fetch');
  await page.fill('#credential', 'not.a.token');
  await page.click('#connect');
  await page.waitForSelector('li[data-kind="error"][data-status="401"]', { timeout: 10000 });
  const refusal = await page.textContent('li[data-kind="error"][data-status="401"] .what');
  expect401 = false;

  // A narrow window: nothing wider than the screen.
  await page.setViewportSize({ width: 360, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

  // Another origin: a page on 127.0.0.1:PORT opens an EventSource to the gateway on localhost
  // through CORS, with the query credential.
  const url = `${gateway}/observer/1.0.0/memory?access_token=${encodeURIComponent(token)}`;
  const other = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>other origin</title></head>
<body><p>other origin</p><script>
window.received = []; window.failed = 0;
const es = new EventSource(${JSON.stringify(url)});
es.onmessage = (e) => window.received.push(e.lastEventId);
es.onerror = () => { window.failed++; };
</script></body></html>`);
  });
  await new Promise((r) => other.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${other.address().port}`;
  const page2 = await context.newPage();
  page2.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`other origin: ${m.text()}`); });
  page2.on('pageerror', (e) => consoleErrors.push(`other origin pageerror: ${e.message}`));
  await page2.goto(`${origin}/`);
  await page2.waitForFunction(() => window.received.length >= 2, null, { timeout: 15000 });
  const cross = await page2.evaluate(() => ({ received: window.received, failed: window.failed }));
  await page2.close();
  other.close();

  say({
    step: 'done', listed, ids, es_ids: esIds, es_preview: preview, parsed, refusal, asyncapi, reconnects, duplicates, ended, opens, streams_open: streamsOpen,
    unlabeled, overflow, cross_origin: { origin, ...cross }, console_errors: consoleErrors,
  });
} finally {
  await browser.close();
  stdin.close();
}
