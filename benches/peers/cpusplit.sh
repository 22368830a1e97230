#!/usr/bin/env bash
# Where a pooled + ECS query's CPU goes, gslbd beside gdnsd: user space (the server's own code)
# and kernel (the same recvmmsg/sendmmsg of one datagram each way), with the batch size and
# context switches that move the kernel part from run to run. The figures NOTES.md's eighth
# round gives, reproducible.
#
#   benches/peers/cpusplit.sh WORK      WORK = the work folder of a run.sh run ($OUT/work), which
#                                       holds bench.mmdb, ecs.bin, pools.toml and the pooled zones
#   ROUNDS=3 DURATION=5 CLIENTS=64      rounds (servers alternated), seconds of load, dnsperf clients
#   GEODB=geoip/city.mmdb               another database for both servers (default WORK/bench.mmdb,
#                                       20,000 random /24s: a sparse tree, unlike GeoLite2-City)
#
# Each server runs as in run.sh's pooled case (two UDP threads, the bench's pool and database) on
# CPU 1, dnsperf on CPU 0 with CLIENTS sockets (64 by default, not run.sh's 8: with 8 client ports
# the kernel's SO_REUSEPORT hash often gives one of the two server sockets most of the load, and
# the CPU per query of either server then moves by ±10 % with that split alone). Per query it
# prints: CPU (task-clock), user and kernel (utime/stime of /proc), datagrams per recvmmsg and
# context switches per 1,000 queries (perf stat). Needs perf, dnsperf, dig, gdnsd and a release
# build (GSLBD=, default target/release/gslbd). Loopback only (ports 5462, 5463); about
# ROUNDS × 2 × (DURATION + 4) seconds.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
W="$(cd "${1:?usage: cpusplit.sh WORK (the work folder of a run.sh run)}" && pwd)"
GSLBD="${GSLBD:-$REPO/target/release/gslbd}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
CLIENTS="${CLIENTS:-64}"
GEODB="$(realpath "${GEODB:-$W/bench.mmdb}")"
TCK="$(getconf CLK_TCK)"
D="$(mktemp -d /tmp/gslbd-cpusplit.XXXXXX)"
PID=""
trap '[ -n "$PID" ] && kill -TERM -- "-$PID" 2>/dev/null; rm -rf "$D"' EXIT
# shellcheck source=benches/peers/pooled-setup.sh
. "$HERE/pooled-setup.sh"
pooled_setup cpusplit.sh "$W" "$D" "$GEODB" 5462 5463 2

# ticks PID: utime and stime of the process (all threads), in clock ticks.
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

# one NAME PORT CMD...: start on CPU 1, wait for answers, load from CPU 0 under perf stat, stop.
one() {
    local name="$1" port="$2" i
    shift 2
    setsid taskset -c 1 "$@" >"$D/$name.log" 2>&1 </dev/null &
    PID=$!
    for i in $(seq 60); do
        dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" www.gslb.example.com A +subnet=81.2.69.0/24 >/dev/null 2>&1 && break
        sleep 0.5
    done
    read -r u0 s0 < <(ticks "$PID")
    perf stat -x, -e task-clock,context-switches,syscalls:sys_enter_recvmmsg -p "$PID" -o "$D/perf" -- sleep "$DURATION" &
    local perf=$!
    local q
    q="$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -B -d "$W/ecs.bin" -l "$DURATION" -c "$CLIENTS" -T 2 2>&1 |
        awk '/Queries completed/ { print $3 }')"
    wait "$perf" || true
    read -r u1 s1 < <(ticks "$PID")
    kill -TERM -- "-$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    local clock cs rx
    clock="$(awk -F, '$3 == "task-clock" { print $1 }' "$D/perf")"
    cs="$(awk -F, '$3 == "context-switches" { print $1 }' "$D/perf")"
    rx="$(awk -F, '$3 ~ /recvmmsg/ { print $1 }' "$D/perf")"
    awk -v n="$name" -v q="$q" -v c="$clock" -v cs="$cs" -v rx="$rx" -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v t="$TCK" 'BEGIN {
        printf "%-6s %9d queries  CPU %.2f us/q  user %.2f  kernel %.2f  %.1f per recvmmsg  %.1f switches/1k q\n",
            n, q, c * 1000 / q, u / t * 1e6 / q, s / t * 1e6 / q, q / rx, cs * 1000 / q }'
}

echo "database: $GEODB"
for r in $(seq "$ROUNDS"); do
    echo "round $r"
    RUST_LOG=warn one gslbd 5462 "$GSLBD" serve --config "$D/gslbd.toml"
    one gdnsd 5463 gdnsd -c "$D/gdnsd" -f start
done
