"""Python httpx-sse against the gateway, run by tests/clients.rs.

    python3 httpx_sse_client.py URL AUTHORIZATION COUNT

AUTHORIZATION is the whole header value ("Bearer ..."), or "-" for none. Prints one JSON
object per line: {"request": {"last_event_id": ...}} per connection, {"open": true},
{"id": "7"} per message, {"ended": true} when the server ends the stream (the client then
reconnects with Last-Event-ID, as an EventSource does), {"refused": {"status": 401,
"body": "..."}}; exits after COUNT messages or a refusal.
"""

import json
import sys
import time

import httpx
from httpx_sse import connect_sse


def say(obj):
    print(json.dumps(obj), flush=True)


def main():
    url, authorization, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    got = 0
    last_id = None
    retry_ms = 1000
    with httpx.Client(timeout=httpx.Timeout(10.0, read=30.0)) as client:
        while got < count:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if authorization != "-":
                headers["Authorization"] = authorization
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            say({"request": {"last_event_id": last_id}})
            with connect_sse(client, "GET", url, headers=headers) as source:
                response = source.response
                if response.status_code != 200:
                    response.read()
                    say({"refused": {"status": response.status_code, "body": response.text}})
                    return
                say({"open": True})
                for sse in source.iter_sse():
                    if sse.retry is not None:
                        retry_ms = sse.retry
                    if sse.id:
                        last_id = sse.id
                    if sse.event != "message":
                        say({"gateway_event": sse.data, "event": sse.event})
                        continue
                    say({"id": sse.id})
                    got += 1
                    if got >= count:
                        return
            say({"ended": True})
            time.sleep(retry_ms / 1000)


if __name__ == "__main__":
    main()
