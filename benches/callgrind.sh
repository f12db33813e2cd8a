#!/bin/sh
# Instructions per event of each parser on each workload of the sse suite, counted by
# callgrind (exactly repeatable, unlike time on the shared machine):
#   (Ir(iters = 2) - Ir(iters = 0)) / (2 * events)
# of benches/examples/sse_instructions, which makes the workload before its loop.
#
#   cargo build --release -p eventgate-benches --example sse_instructions
#   benches/callgrind.sh [binary] [workloads] [parsers]
#
# Defaults: target/release/examples/sse_instructions, "a b c d", every parser.
set -eu
bin=${1:-target/release/examples/sse_instructions}
workloads=${2:-a b c d}
parsers=${3:-eventgate-sse eventgate-sse-ref eventgate-sse-count sse-core-decoder sse-core sse-stream sseer memchr2-scan classify-pass}
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "workload feed parser instructions_per_event"
for w in $workloads; do
    case $w in a) events=10000 ;; b) events=1000 ;; c) events=10000 ;; d) events=50000 ;; *) exit 2 ;; esac
    for feed in whole 1460; do
        base=$(ir "$w" "$feed" eventgate-sse 0)
        for p in $parsers; do
            two=$(ir "$w" "$feed" "$p" 2)
            echo "$w $feed $p $(( (two - base) / (2 * events) ))"
        done
    done
done
