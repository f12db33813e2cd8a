// npm `eventsource` against the gateway, run by tests/clients.rs:
//
//   node eventsource_client.mjs URL AUTHORIZATION COUNT
//
// AUTHORIZATION is the whole header value ("Bearer ..."), or "-" for none. The header is added
// by a fetch wrapper (the package's documented way to send headers), which also reports each
// request's Last-Event-ID and the body of a refused one. Prints one JSON object per line:
// {"request":{"last_event_id":...}}, {"open":true}, {"id":"7"} per message,
// {"error":{...}}, {"refused":{"status":401,"body":"..."}}; exits after COUNT messages or a
// refusal.
import { EventSource } from 'eventsource';

const [url, authorization, count] = process.argv.slice(2);
const want = Number(count);
const say = (o) => console.log(JSON.stringify(o));
let got = 0;
// The package's reconnect timer does not keep node running by itself: this does, up to a
// bound.
setTimeout(() => { say({ timeout: true }); process.exit(2); }, 60000);

const es = new EventSource(url, {
  fetch: async (input, init) => {
    const headers = new Headers(init.headers);
    if (authorization !== '-') headers.set('Authorization', authorization);
    say({ request: { last_event_id: headers.get('Last-Event-ID') } });
    const res = await fetch(input, { ...init, headers });
    if (res.status !== 200) {
      say({ refused: { status: res.status, body: await res.clone().text() } });
    }
    return res;
  },
});
es.onopen = () => say({ open: true });
es.onmessage = (e) => {
  say({ id: e.lastEventId });
  got += 1;
  if (got >= want) {
    es.close();
    process.exit(0);
  }
};
es.addEventListener('eventgate-error', (e) => say({ gateway_event: e.data }));
es.onerror = (e) => {
  say({ error: { message: e.message ?? null, code: e.code ?? null, state: es.readyState } });
  if (es.readyState === EventSource.CLOSED) process.exit(0);
};
