#!/usr/bin/env bash
# Over-the-socket comparison on 127.0.0.1: the `relay` example (fanout) vs nginx
# (proxy_buffering off) and Pushpin (GRIP: the origin holds each request on channel `feed`
# and publishes every event once to Pushpin), and the whole gateway (`eventgate serve`: a
# fan-out topic, every client authenticated with its own JWT-bearing request, each event
# metered against AsyncUnlimited), in process (`gateway`) and with the backlog and quotas in
# a redis-server of its own (`gateway-redis`, `[cluster] redis`), all in front of the
# `origin` example, driven by the `load` example. Installs nginx and Pushpin from Debian if
# missing. SERVERS="direct relay gateway gateway-redis nginx pushpin" (default) picks the
# servers; `direct` is the origin alone, its clients connected to it with no server between,
# the latency every server adds to.
#
# usage: crates/eventgate-relay/bench/sockets.sh [scenario...]
#   scenarios: rate  (1,000 clients x 100 events/s, 64 B; CPU per event, latency)
#              light (1,000 clients x 20 events/s: the same, below saturation on 2 cores)
#              conns (10,000 clients x 1 event/s; memory per connection)
# Env: WARMUP, DURATION (seconds), CARGO_TARGET_DIR, TICKS (the origin's `--ticks`: `shared`,
# the default, makes each event once and writes it to every connection at the same moment, so
# nginx's clients get each event together as the fan-out servers' clients do; `own` gives every
# connection its own ticker, its events at a phase of their own).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ulimit -n 20000
WARMUP=${WARMUP:-5}
DURATION=${DURATION:-15}
T=${CARGO_TARGET_DIR:-target}
if ! command -v nginx >/dev/null || ! command -v pushpin >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx pushpin >/dev/null
fi
cargo build -q --release -p eventgate-relay --examples
cargo build -q --release -p eventgate-cli
B=$T/release/examples
E=$T/release/eventgate
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
# Pushpin: the Debian package does not start zurl; zurl denies 127.* and caps open
# requests, Pushpin's handler caps message_rate: lift all of these for a fan-out test.
mkdir -p /var/run/zurl "$tmp/run" "$tmp/log"
sed -e 's/^deny=.*/deny=/' -e 's/^max_open_requests=.*/max_open_requests=50000/' \
  -e 's/^in_hwm=.*/in_hwm=100000/' -e 's/^out_hwm=.*/out_hwm=100000/' /etc/zurl.conf > "$tmp/zurl.conf"
sed -e "s|^rundir=.*|rundir=$tmp/run|" -e "s|^logdir=.*|logdir=$tmp/log|" \
  -e 's|^http_port=.*|http_port=19103|' -e 's|^message_rate=.*|message_rate=10000000|' \
  -e 's|^message_hwm=.*|message_hwm=10000000|' -e "s|^routesfile=.*|routesfile=$tmp/routes|" \
  -e 's|^include=.*|include=/usr/lib/pushpin/internal.conf|' /etc/pushpin/pushpin.conf > "$tmp/pushpin.conf"
echo "* 127.0.0.1:19100" > "$tmp/routes"

# The gateway's state (in $tmp/eg, kept across its runs): the tutorial's steps for an API
# `Bench` whose topic /feed fans the origin's /feed out, and one application's token.
gateway_setup() {
  [ -s "$tmp/token" ] && return
  local g="$E --data $tmp/eg"
  $g api create --name Bench --context /bench --version 1.0.0 --endpoint http://127.0.0.1:19100 >/dev/null
  $g api topics add Bench:1.0.0 /feed --mode fanout >/dev/null
  $g api topics remove Bench:1.0.0 '/*' >/dev/null
  $g api plans set Bench:1.0.0 AsyncUnlimited >/dev/null
  $g api lifecycle Bench:1.0.0 publish >/dev/null
  $g api revision create Bench:1.0.0 >/dev/null
  $g api deploy Bench:1.0.0 --revision 1 --env production --vhost localhost >/dev/null
  $g app create BenchApp >/dev/null
  $g app subscribe BenchApp --api Bench:1.0.0 --plan AsyncUnlimited >/dev/null
  $g app token BenchApp --ttl 2h > "$tmp/token"
}

gateway_start() { # [config]
  $E serve --data "$tmp/eg" --http 127.0.0.1:19104 --https 127.0.0.1:19106 --admin 127.0.0.1:19105 \
    ${1:+--config "$1"} >"$tmp/serve.log" 2>&1 & rp=$!
  for _ in $(seq 100); do grep -q 'eventgate gateway on' "$tmp/serve.log" && break; sleep 0.1; done
  gateway_setup
}

run() { # name clients rate
  local name=$1 clients=$2 rate=$3 url pids op rp auth=()
  case $name in
    direct)
      $B/origin --listen 127.0.0.1:19100 --rate "$rate" --size 64 ${TICKS:+--ticks $TICKS} 2>/dev/null & op=$! rp=$op
      sleep 0.5
      url=http://127.0.0.1:19100/feed; pids="" ;;
    relay)
      $B/origin --listen 127.0.0.1:19100 --rate "$rate" --size 64 ${TICKS:+--ticks $TICKS} 2>/dev/null & op=$!
      $B/relay --upstream http://127.0.0.1:19100 --listen 127.0.0.1:19101 --mode fanout 2>/dev/null & rp=$!
      sleep 0.5
      url=http://127.0.0.1:19101/feed; pids="--pid $rp" ;;
    gateway|gateway-redis)
      $B/origin --listen 127.0.0.1:19100 --rate "$rate" --size 64 ${TICKS:+--ticks $TICKS} 2>/dev/null & op=$!
      local zp=""
      if [ $name = gateway-redis ]; then
        redis-server --port 19107 --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >/dev/null & zp=$!
        sleep 0.5
        printf '[cluster]\nnode = "bench"\nredis = "redis://127.0.0.1:19107"\n' > "$tmp/cluster.toml"
        gateway_start "$tmp/cluster.toml"
      else
        gateway_start
      fi
      url=http://127.0.0.1:19104/bench/1.0.0/feed
      auth=(--header "host: localhost" --header "authorization: Bearer $(cat "$tmp/token")")
      pids="--pid $rp${zp:+ --pid $zp}" ;;
    nginx)
      $B/origin --listen 127.0.0.1:19100 --rate "$rate" --size 64 ${TICKS:+--ticks $TICKS} 2>/dev/null & op=$!
      nginx -c "$tmp/nginx.conf" -g 'daemon off;' & rp=$!
      sleep 0.5
      url=http://127.0.0.1:19102/feed
      pids=""; for w in $(pgrep -P $rp); do pids="$pids --pid $w"; done ;;
    pushpin)
      zurl --config="$tmp/zurl.conf" >/dev/null 2>&1 & local zp=$!
      pushpin --config="$tmp/pushpin.conf" >/dev/null 2>&1 & rp=$!
      sleep 2
      $B/origin --listen 127.0.0.1:19100 --rate "$rate" --size 64 \
        --grip http://127.0.0.1:5561/publish/ 2>/dev/null & op=$!
      sleep 0.5
      url=http://127.0.0.1:19103/feed
      pids="--pid $zp"; for w in $(pgrep -P $rp); do pids="$pids --pid $w"; done ;;
  esac
  echo "== $name: $clients clients x $rate events/s (pids: server processes, origin, load tool)"
  # shellcheck disable=SC2086
  $B/load --url $url --clients "$clients" --warmup "$WARMUP" --duration "$DURATION" $pids --pid $op "${auth[@]}"
  kill -INT $rp 2>/dev/null || true; sleep 0.5
  kill $rp $op ${zp:-} 2>/dev/null || true; wait 2>/dev/null || true
}

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(rate conns)
for s in "${scenarios[@]}"; do
  for name in ${SERVERS:-direct relay gateway gateway-redis nginx pushpin}; do
    case $s in
      rate) run $name 1000 100 ;;
      light) run $name 1000 20 ;;
      conns) WARMUP=$((WARMUP > 15 ? WARMUP : 15)) run $name 10000 1 ;;
    esac
  done
done
rm -rf "$tmp"
