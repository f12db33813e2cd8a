#!/usr/bin/env bash
# Over-the-socket comparison on 127.0.0.1: the `relay` example (fanout) vs nginx
# (proxy_buffering off), both in front of the `origin` example, driven by the `load`
# example. Installs nginx from Debian if missing. Pushpin is not driven (yet).
#
# usage: crates/eventgate-relay/bench/sockets.sh [scenario...]
#   scenarios: rate  (1,000 clients x 100 events/s, 64 B; CPU per event, latency)
#              conns (10,000 clients x 1 event/s; memory per connection)
# Env: WARMUP, DURATION (seconds), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ulimit -n 20000
WARMUP=${WARMUP:-5}
DURATION=${DURATION:-15}
T=${CARGO_TARGET_DIR:-target}
if ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
cargo build -q --release -p eventgate-relay --examples
B=$T/release/examples
tmp=$(mktemp -d)
cat > "$tmp/nginx.conf" <<CONF
worker_processes auto;
worker_rlimit_nofile 40000;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 30000; }
http {
  access_log off;
  upstream origin { server 127.0.0.1:19100; keepalive 64; }
  server {
    listen 127.0.0.1:19102;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 1h;
    }
  }
}
CONF

run() { # name clients rate
  local name=$1 clients=$2 rate=$3
  $B/origin --listen 127.0.0.1:19100 --rate "$rate" --size 64 2>/dev/null & local op=$!
  sleep 0.3
  local url pids
  if [ "$name" = relay ]; then
    $B/relay --upstream http://127.0.0.1:19100 --listen 127.0.0.1:19101 --mode fanout 2>/dev/null & local rp=$!
    url=http://127.0.0.1:19101/feed; pids="--pid $rp"
  else
    nginx -c "$tmp/nginx.conf" -g 'daemon off;' & local rp=$!
    sleep 0.5
    url=http://127.0.0.1:19102/feed
    pids=""; for w in $(pgrep -P $rp); do pids="$pids --pid $w"; done
  fi
  sleep 0.5
  echo "== $name: $clients clients x $rate events/s (pids: server$( [ $name = nginx ] && echo ' workers'), origin, load tool)"
  # shellcheck disable=SC2086
  $B/load --url $url --clients "$clients" --warmup "$WARMUP" --duration "$DURATION" $pids --pid $op
  kill -INT $rp 2>/dev/null || true; sleep 0.5; kill $rp $op 2>/dev/null || true; wait 2>/dev/null || true
}

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(rate conns)
for s in "${scenarios[@]}"; do
  for name in relay nginx; do
    case $s in
      rate) run $name 1000 100 ;;
      conns) WARMUP=$((WARMUP > 15 ? WARMUP : 15)) run $name 10000 1 ;;
    esac
  done
done
rm -rf "$tmp"
