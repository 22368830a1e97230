#!/usr/bin/env bash
# Instructions per pooled + ECS query, gslbd beside gdnsd, counted by callgrind: the figure in
# benches/peers/NOTES.md that follows the code (a full run's CPU per query moves with the machine).
#
#   benches/peers/callgrind.sh WORK     WORK = the work folder of a run.sh run ($OUT/work), which
#                                       holds bench.mmdb, ecs.bin, pools.toml and the pooled zones
#
# Each server gets one UDP thread, the bench's pooled config and GeoIP database; dnsperf sends the
# 10,000 ECS queries of ecs.bin once, at 4,000 a second (-Q: a saturated server under valgrind
# would drop queries). Counters are zeroed after start-up and one warm-up query. Printed:
# instructions of the serving thread per query, and for gslbd its UDP handler alone when the
# build keeps it out of line (the thread less the socket calls, which depend on how many
# datagrams each recvmmsg brings; since the reply cache of issue 20's tenth round the handler
# is inlined into the socket loop, so the thread's figure is the one to compare) and for gdnsd
# its memset calls (callgrind counts each iteration of glibc's `rep stosb` as an instruction).
# Needs valgrind, dnsperf, dig, gdnsd and a release build (GSLBD=, default target/release/gslbd).
# Loopback only (ports 5460, 5461); about two minutes.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
W="$(cd "${1:?usage: callgrind.sh WORK (the work folder of a run.sh run)}" && pwd)"
GSLBD="${GSLBD:-$REPO/target/release/gslbd}"
QUERIES=10000
D="$(mktemp -d /tmp/gslbd-callgrind.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$D"' EXIT
# shellcheck source=benches/peers/pooled-setup.sh
. "$HERE/pooled-setup.sh"
pooled_setup callgrind.sh "$W" "$D" "$W/bench.mmdb" 5460 5461 1

# measure NAME PORT OUTDIR CMD...: serve under callgrind, send the queries, dump, stop.
measure() {
    local name="$1" port="$2" out="$3" i
    shift 3
    mkdir -p "$out"
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.out" "$@" >"$out/log" 2>&1 &
    local pid=$!
    for i in $(seq 60); do
        dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" www.gslb.example.com A +subnet=81.2.69.0/24 >/dev/null 2>&1 && break
        sleep 1
    done
    callgrind_control -z "$pid" >/dev/null 2>&1
    dnsperf -s 127.0.0.1 -p "$port" -B -d "$W/ecs.bin" -n 1 -Q 4000 -c 8 -T 2 -t 5 2>&1 | grep -E "Queries (completed|lost)" | sed "s/^ */$name: /"
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# busiest: of the dumps here (one per thread), the serving thread's: the one that holds nearly
# all the instructions (its file in $best, its count in $most).
busiest() {
    local f n
    best="" most=0
    for f in cg.out*-*; do
        n="$(callgrind_annotate --auto=no "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' || true)"
        if [ -n "$n" ] && [ "$n" -gt "$most" ]; then most="$n" best="$f"; fi
    done
}

# per_query COUNT: COUNT (callgrind's "1,234,567") divided by the queries.
per_query() { tr -d , <<<"$1" | awk -v q="$QUERIES" '{ printf "%.0f", $1 / q }'; }

RUST_LOG=warn measure gslbd 5460 "$D/gslbd" "$GSLBD" serve --config "$D/gslbd.toml"
# callgrind_annotate run from inside the repository shortens the paths of its files and then
# sums some inlined code differently (149 instructions a query less for the handler): run it
# where the dumps are, with the full paths the counts in NOTES.md were taken with.
cd "$D/gslbd"
busiest
handler="$(callgrind_annotate --inclusive=yes --auto=no "$best" 2>/dev/null | grep -E 'Handler>::handle \[' | head -1 | awk '{print $1}' || true)"
# The handler is inlined into the socket loop in some builds: then only the thread's figure.
echo "gslbd: UDP thread $(per_query "$most") instructions per query${handler:+, of it the UDP handler $(per_query "$handler")}"

measure gdnsd 5461 "$D/gdnsd-cg" gdnsd -c "$D/gdnsd" -f start
# The serving thread is the dump that holds nearly all the instructions.
cd "$D/gdnsd-cg"
busiest
memset="$(callgrind_annotate --inclusive=yes --auto=no "$best" 2>/dev/null | grep -E '  [^ ]*memset[^ ]* \[' | head -1 | awk '{print $1}' || true)"
echo "gdnsd: UDP thread $(per_query "$most") instructions per query, of it memset $(per_query "${memset:-0}")"
