#!/usr/bin/env bash
# Side-by-side benchmark: gslbd against Knot, NSD, gdnsd, PowerDNS and a null responder, all on
# loopback, same dnsperf load, servers alternated (A B C A B C) to cancel drift.
#
#   benches/peers/run.sh                 everything: install, qps, scale, memory, BENCHMARKS.md
#   PHASES="qps" benches/peers/run.sh    only some phases (install qps scale memory report)
#   DURATION=10 ROUNDS=2 ...             seconds per dnsperf run, rounds (defaults 8 and 2)
#   CASES="static pooled tcp"            which qps cases (default all three)
#   CLIENTS=8 UDP_CLIENTS=64             TCP threads/connections; dnsperf sockets for UDP
#   PIN=1                                qps phase: every server on CPU 1, the load generator on
#                                        CPU 0 (taskset), so that neither preempts the other
#
# How long: the qps phase runs 6 static + 6 pooled (noecs, ecs) + 6 TCP (short, long) server
# runs per round, each DURATION s plus ~3 s of start and check: about 5 minutes with the
# defaults; scale about 1 minute per case (SCALE_CASES="RECORDS:NAMES:POOLS ..."); memory about half a minute.
#
# Needs root for apt-get (skipped when the tools are there). Builds gslbd and the null
# responder with `cargo build --release`. Writes raw results under $OUT (default
# target/bench-peers/) and BENCHMARKS.md at the repo root. Every server it starts is
# stopped on exit, also on failure. Not part of `cargo test` or .ci/run.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${OUT:-$REPO/target/bench-peers}"
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-2}"
PHASES="${PHASES:-install qps scale memory report}"
CASES="${CASES:-static pooled tcp}"
CLIENTS="${CLIENTS:-8}"
# dnsperf sockets for the UDP cases: with 8 client ports the kernel's SO_REUSEPORT hash often gives one of
# a server's two sockets most of the load, and its CPU per query then moves by up to ±10 % with that split
# alone (NOTES.md, eighth round); 64 spread it evenly. TCP keeps CLIENTS (threads / connections).
UDP_CLIENTS="${UDP_CLIENTS:-64}"
THREADS="${THREADS:-2}"
PIN="${PIN:-}"
SRV_PIN=() # what start() runs a server under (set during the qps phase when PIN is set)
CLI_PIN=()
[ -n "$PIN" ] && CLI_PIN=(taskset -c 0)
GSLBD="${GSLBD:-$REPO/target/release/gslbd}"
NULLR="$REPO/target/release/examples/null_responder"
BMMDB="$REPO/target/release/examples/bench_mmdb"
CHURN="$REPO/target/release/examples/tcp_churn"
T="$HERE/templates"
TCK="$(getconf CLK_TCK)"

has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
log() { echo "[bench] $*" >&2; }

# ---------------------------------------------------------------- process bookkeeping
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        # each server was started in its own process group (setsid): stop the whole group
        kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${PIDS[@]}"; do
        kill -KILL -- "-$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME LOG CMD...: runs CMD in a new session, remembers its pid in $STARTED
start() {
    local name="$1" logf="$2"
    shift 2
    setsid "${SRV_PIN[@]}" "$@" >"$logf" 2>&1 </dev/null &
    STARTED=$!
    PIDS+=("$STARTED")
    log "started $name (pid $STARTED)"
}

# wait_dns PORT PID NAME: until the server answers NOERROR on 127.0.0.1:PORT (30 s at most)
wait_dns() {
    local port="$1" pid="$2" name="$3" i
    for i in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during startup"
            return 1
        fi
        if kdig +time=1 +retry=0 @127.0.0.1 -p "$port" gslb.example.com SOA 2>/dev/null | grep -q "status: NOERROR"; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer on port $port within 30 s"
    return 1
}

# the pid and every descendant of it
tree() {
    local p="$1" c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null); do tree "$c"; done
}
cpu_ticks() { # "utime stime" of the process tree, in clock ticks
    local u=0 k=0 p a b
    for p in $(tree "$1"); do
        read -r a b < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12, $13}') || true
        u=$((u + ${a:-0}))
        k=$((k + ${b:-0}))
    done
    echo "$u $k"
}
rss_kb() { # VmRSS summed over the process tree
    local s=0 p v
    for p in $(tree "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
        s=$((s + ${v:-0}))
    done
    echo "$s"
}

pss_kb() { # Pss summed over the process tree (shared pages counted once in total)
    local s=0 p v
    for p in $(tree "$1"); do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
        s=$((s + ${v:-0}))
    done
    echo "$s"
}

# ---------------------------------------------------------------- install
install_peers() {
    local missing=()
    command -v dnsperf >/dev/null || missing+=(dnsperf)
    command -v kdig >/dev/null || missing+=(knot-dnsutils)
    command -v knotd >/dev/null || missing+=(knot)
    command -v nsd >/dev/null || missing+=(nsd)
    command -v gdnsd >/dev/null || missing+=(gdnsd)
    command -v pdns_server >/dev/null || missing+=(pdns-server)
    [ -e /usr/lib/x86_64-linux-gnu/pdns/libbindbackend.so ] || missing+=(pdns-backend-bind)
    [ -e /usr/lib/x86_64-linux-gnu/pdns/libgeoipbackend.so ] || missing+=(pdns-backend-geoip)
    command -v mmdblookup >/dev/null || missing+=(mmdb-bin)
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        # keep the packages' services from starting (they would take port 53)
        local made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            made_policy=1
        fi
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
        [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    fi
    # services the packages may have started anyway (no systemd here: stop them by pid)
    local d p
    for d in knotd nsd gdnsd pdns_server; do
        for p in $(pgrep -x "$d" || true); do
            command -v systemctl >/dev/null && systemctl stop knot nsd gdnsd pdns 2>/dev/null || true
            if kill -0 "$p" 2>/dev/null && ! printf '%s\n' "${PIDS[@]}" | grep -qx "$p"; then
                log "stopping packaged $d (pid $p)"
                kill "$p" 2>/dev/null || true
            fi
        done
    done
    if [ ! -x "$GSLBD" ] || [ ! -x "$NULLR" ] || [ ! -x "$BMMDB" ] || [ ! -x "$CHURN" ] || [ -n "${BUILD:-}" ]; then
        (cd "$REPO" && cargo build --release --bin gslbd --example null_responder --example bench_mmdb --example tcp_churn)
    fi
}

# ---------------------------------------------------------------- configs
fill() { # fill TEMPLATE OUTFILE KEY=VALUE...
    local tpl="$1" out="$2" kv expr=()
    shift 2
    for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${expr[@]}" "$tpl" >"$out"
}

LUA_WWW='www 30 IN LUA A ";local r=pickclosest({'"'"'192.0.2.1'"'"','"'"'198.51.100.1'"'"','"'"'203.0.113.1'"'"'}) if r=='"'"'198.51.100.1'"'"' then return pickwrandom({{3,'"'"'198.51.100.1'"'"'},{1,'"'"'198.51.100.2'"'"'}}) elseif r=='"'"'203.0.113.1'"'"' then return pickwrandom({{3,'"'"'203.0.113.1'"'"'},{1,'"'"'203.0.113.2'"'"'}}) else return pickwrandom({{3,'"'"'192.0.2.1'"'"'},{1,'"'"'192.0.2.2'"'"'}}) end"'

prepare_data() {
    W="$OUT/work"
    rm -rf "$W"
    mkdir -p "$W"
    local base="$REPO/zones/gslb.example.com.zone"
    { cat "$base"; echo "www 30 IN A 192.0.2.1"; } >"$W/static.zone"
    cp "$base" "$W/pooled-gslbd.zone"
    { cat "$base"; echo "www 30 DYNA geoip!web"; } >"$W/pooled-gdnsd.zone"
    { cat "$base"; echo "$LUA_WWW"; } >"$W/pooled-pdns.zone"
    cp "$T/pools.toml" "$W/pools.toml"
    python3 "$HERE/gen.py" geo-csv "$W/geo.csv"
    # same CSV format as `gslbd mmdb-build`, plus location.accuracy_radius that PowerDNS needs
    "$BMMDB" "$W/geo.csv" "$W/bench.mmdb" 2>/dev/null
    echo "www.gslb.example.com A" >"$W/static.txt"
    python3 "$HERE/gen.py" ecs-queries "$W/geo.csv" "$W/ecs.bin" 10000
}

# setup_SERVER CASE PORT GEODB: writes the config under $W/CASE-SERVER and starts it; sets STARTED
setup_null() {
    start null "$W/$1-null.log" "$NULLR" "127.0.0.1:$2" 2
}
setup_gslbd() {
    local d="$W/$1-gslbd"
    mkdir -p "$d"
    local zf="$W/pooled-gslbd.zone"
    [ "$1" != pooled ] && zf="$W/static.zone"
    fill "$T/gslbd.toml.in" "$d/gslbd.toml" PORT="$2" GEODB="$3" ZONEFILE="$zf" POOLS="$W/pools.toml"
    [ "$1" != pooled ] && sed -i '/^pools = /d' "$d/gslbd.toml"
    # TCP case: the long connections carry every query of a run (gslbd closes a connection after
    # 1000 queries by default; Knot and NSD have no such limit).
    [ "$1" = tcp ] && printf '\n[server.tcp]\nmax_queries_per_connection = 100000000\nmax_lifetime_ms = 3600000\n' >>"$d/gslbd.toml"
    RUST_LOG=warn start gslbd "$W/$1-gslbd.log" "$GSLBD" serve --config "$d/gslbd.toml"
}
setup_knot() {
    local d="$W/$1-knot"
    mkdir -p "$d"
    fill "$T/knot.conf.in" "$d/knot.conf" PORT="$2" DIR="$d" ZONEFILE="$W/static.zone"
    start knot "$W/$1-knot.log" knotd -c "$d/knot.conf"
}
setup_nsd() {
    local d="$W/$1-nsd"
    mkdir -p "$d"
    fill "$T/nsd.conf.in" "$d/nsd.conf" PORT="$2" DIR="$d" ZONEFILE="$W/static.zone"
    start nsd "$W/$1-nsd.log" nsd -d -c "$d/nsd.conf"
}
setup_gdnsd() {
    local d="$W/$1-gdnsd"
    mkdir -p "$d/zones" "$d/geoip" "$d/run" "$d/state"
    fill "$T/gdnsd.config.in" "$d/config" PORT="$2" DIR="$d" GEODB="$3"
    if [ "$1" = static ]; then cp "$W/static.zone" "$d/zones/gslb.example.com"; else cp "$W/pooled-gdnsd.zone" "$d/zones/gslb.example.com"; fi
    start gdnsd "$W/$1-gdnsd.log" gdnsd -c "$d" start
}
setup_pdns() {
    local d="$W/$1-pdns"
    mkdir -p "$d"
    local zf="$W/static.zone"
    [ "$1" = pooled ] && zf="$W/pooled-pdns.zone"
    fill "$T/pdns.conf.in" "$d/pdns.conf" PORT="$2" DIR="$d" GEODB="$3"
    fill "$T/named.conf.in" "$d/named.conf" DIR="$d" ZONEFILE="$zf"
    cp "$T/geo-zones.yaml" "$d/geo-zones.yaml"
    start pdns "$W/$1-pdns.log" pdns_server --config-dir="$d"
}

# ---------------------------------------------------------------- measuring
# measure CASE SERVER PID PORT VARIANT ROUND: one dnsperf run; appends a line to $OUT/results.tsv
measure() {
    local case="$1" server="$2" pid="$3" port="$4" variant="$5" round="$6"
    local args=(-d "$W/static.txt")
    case "$variant" in
        ecs) args=(-B -d "$W/ecs.bin") ;;
        # TCP: a new connection for every query, or queries pipelined on CLIENTS long connections
        long) args=(-m tcp -d "$W/static.txt") ;;
    esac
    local raw="$OUT/raw/$case-$server-$variant-r$round.txt"
    local c0 c1 u0 k0 u1 k1
    c0=$(cpu_ticks "$pid")
    if [ "$variant" = short ]; then
        # a new connection for every query: dnsperf cannot drive this fast enough (tcp_churn.rs)
        timeout $((DURATION + 20)) "${CLI_PIN[@]}" "$CHURN" "127.0.0.1:$port" "$DURATION" "$CLIENTS" >"$OUT/verbose.tmp" 2>&1 || true
    else
        local clients="$UDP_CLIENTS"
        [ "$variant" = long ] && clients="$CLIENTS"
        timeout $((DURATION + 20)) "${CLI_PIN[@]}" dnsperf -s 127.0.0.1 -p "$port" "${args[@]}" -l "$DURATION" \
            -c "$clients" -T "$THREADS" -t 2 -v >"$OUT/verbose.tmp" 2>&1 || true
    fi
    c1=$(cpu_ticks "$pid")
    read -r u0 k0 <<<"$c0"
    read -r u1 k1 <<<"$c1"
    local rss pss
    rss=$(rss_kb "$pid")
    pss=$(pss_kb "$pid")
    # (dnsperf's TCP mode prints a "socket … not ready" warning per wait: hundreds of thousands)
    grep -v -e '^> ' -e '^Warning: socket .* not ready' "$OUT/verbose.tmp" >"$raw" || true
    local waits
    waits=$(grep -c '^Warning: socket .* not ready' "$OUT/verbose.tmp" || true)
    [ "${waits:-0}" -gt 0 ] && echo "(dnsperf warned ${waits} times that a TCP socket was not ready; lines removed)" >>"$raw"
    python3 - "$OUT/verbose.tmp" "$case" "$server" "$variant" "$round" "$((u1 + k1 - u0 - k0))" "$TCK" "$rss" "$pss" "$((u1 - u0))" \
        >>"$OUT/results.tsv" <<'EOF'
import sys
path, case, server, variant, rnd, ticks, tck, rss, pss, uticks = sys.argv[1:]
lat, stats = [], {}
with open(path, errors="replace") as f:
    for line in f:
        if line.startswith("> "):
            parts = line.split()
            if parts[1] == "NOERROR":
                lat.append(float(parts[-1]))
        elif ":" in line:
            k, _, v = line.strip().partition(":")
            stats[k.strip()] = v.strip()
completed = int(stats.get("Queries completed", "0").split()[0])
lost = int(stats.get("Queries lost", "0").split()[0])
qps = float(stats.get("Queries per second", "0"))
lat.sort()
mean = sum(lat) / len(lat) * 1e6 if lat else 0
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6 if lat else 0
cpu_us = int(ticks) * 1e6 / int(tck)
per_q = cpu_us / completed if completed else 0
user_q = int(uticks) * 1e6 / int(tck) / completed if completed else 0
print(f"{case}\t{server}\t{variant}\t{rnd}\t{qps:.0f}\t{mean:.0f}\t{p99:.0f}\t{per_q:.2f}\t{int(rss)}\t{int(pss)}\t{completed}\t{lost}\t{len(lat)}\t{user_q:.3f}")
EOF
    rm -f "$OUT/verbose.tmp"
    log "$(tail -1 "$OUT/results.tsv")"
}

# check_answer CASE SERVER PORT: what each server answers (no ECS, and ECS from three continents)
check_answers() {
    local case="$1" server="$2" port="$3" s
    for s in none 81.2.69.0/24 1.0.16.0/24 18.0.0.0/24; do
        local sub=()
        [ "$s" != none ] && sub=(+subnet="$s")
        printf '%s\t%s\tecs=%s\t%s\n' "$case" "$server" "$s" \
            "$(for i in 1 2 3 4 5 6; do kdig +short +time=1 +retry=0 @127.0.0.1 -p "$port" "${sub[@]}" www.gslb.example.com A; done | sort | uniq -c | tr -s ' \n' ' ')" \
            >>"$OUT/answers.tsv"
    done
}

qps_phase() {
    [ -n "$PIN" ] && SRV_PIN=(taskset -c 1)
    prepare_data
    mkdir -p "$OUT/raw"
    # When and on what the measuring started, for the report (which may be written later).
    printf '%s\t%s\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git -C "$REPO" rev-parse --short HEAD)" \
        "$(git -C "$REPO" status --porcelain --untracked-files=no | wc -l)" >"$OUT/measured.tsv"
    : >"$OUT/results.tsv"
    : >"$OUT/answers.tsv"
    : >"$OUT/failed.tsv"
    local geodb="$W/bench.mmdb"
    declare -A PORT=([null]=5390 [gslbd]=5391 [knot]=5392 [nsd]=5393 [gdnsd]=5394 [pdns]=5395)
    local case server
    for case in $CASES; do
        local servers=(null gslbd knot nsd gdnsd pdns)
        local variants=(noecs)
        if [ "$case" = pooled ]; then servers=(gslbd gdnsd pdns); variants=(noecs ecs); fi
        if [ "$case" = tcp ]; then servers=(gslbd knot nsd); variants=(short long); fi
        declare -A SPID=()
        local up=()
        for server in "${servers[@]}"; do
            local port=${PORT[$server]}
            [ "$case" = pooled ] && port=$((PORT[$server] + 10))
            [ "$case" = tcp ] && port=$((PORT[$server] + 20))
            if "setup_$server" "$case" "$port" "$geodb" && wait_dns "$port" "$STARTED" "$server"; then
                SPID[$server]=$STARTED
                up+=("$server")
                check_answers "$case" "$server" "$port"
            else
                printf '%s\t%s\t%s\n' "$case" "$server" "$(tail -5 "$W/$case-$server.log" | tr '\n' ' ')" >>"$OUT/failed.tsv"
                log "$server ($case) FAILED to start; see $W/$case-$server.log"
            fi
        done
        local r v
        for r in $(seq 1 "$ROUNDS"); do
            for v in "${variants[@]}"; do
                for server in "${up[@]}"; do
                    local port=${PORT[$server]}
                    [ "$case" = pooled ] && port=$((port + 10))
                    [ "$case" = tcp ] && port=$((port + 20))
                    measure "$case" "$server" "${SPID[$server]}" "$port" "$v" "$r"
                done
            done
        done
        for server in "${up[@]}"; do
            kill -TERM -- "-${SPID[$server]}" 2>/dev/null || true
        done
        sleep 1
    done
    SRV_PIN=()
}

# ---------------------------------------------------------------- load time at scale
scale_phase() {
    local d="$OUT/scale"
    mkdir -p "$d"
    : >"$OUT/scale.tsv"
    local sc nrec nnames npools
    # RECORDS:NAMES:POOLS — issue 20's two cases (1M records + 100k names over 1,000 pools;
    # 100k pools, each pooled name its own, beside a small zone), then both together.
    for sc in ${SCALE_CASES:-1000000:100000:1000 1000:100000:100000 1000000:100000:100000}; do
        IFS=: read -r nrec nnames npools <<<"$sc"
        python3 "$HERE/gen.py" scale "$d/scale.zone" "$d/scale.pools.toml" "$nrec" "$nnames" "$npools"
        cat >"$d/gslbd.toml" <<EOF
[server]
listen = ["127.0.0.1:5380"]
udp_workers = 2
[geoip]
database = "$REPO/geoip/default-country.mmdb"
[[zone]]
origin = "scale.example."
file = "scale.zone"
pools = "scale.pools.toml"
EOF
        local t0 t1 rc=0
        t0=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$d/check.maxrss" timeout 120 "$GSLBD" check --config "$d/gslbd.toml" >"$d/check.log" 2>&1 || rc=$?
        t1=$(date +%s.%N)
        local check_s
        check_s=$(echo "$t1 - $t0" | bc)
        # serve until the listening line
        t0=$(date +%s.%N)
        start gslbd-scale "$d/serve.log" "$GSLBD" serve --config "$d/gslbd.toml"
        local pid=$STARTED i serve_s=timeout rss=0
        for i in $(seq 1 2400); do # 120 s at most
            if grep -q "gslbd listening on" "$d/serve.log"; then
                t1=$(date +%s.%N)
                serve_s=$(echo "$t1 - $t0" | bc)
                rss=$(rss_kb "$pid")
                break
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        local ans
        local n1=$((nrec - 1)) n2=$((nnames - 1))
        ans=$(kdig +short +time=1 +retry=0 @127.0.0.1 -p 5380 "h$n1.scale.example" A 2>&1 || true; kdig +short +time=1 +retry=0 @127.0.0.1 -p 5380 "p$n2.scale.example" A 2>&1 || true)
        kill -TERM -- "-$pid" 2>/dev/null || true
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$nrec" "$nnames" "$npools" \
            "$(du -k "$d/scale.zone" | cut -f1)" "$(du -k "$d/scale.pools.toml" | cut -f1)" \
            "$check_s (rc $rc, max RSS $(cat "$d/check.maxrss") KiB)" "$serve_s" "$rss" "$(echo $ans)" >>"$OUT/scale.tsv"
        log "scale: $(tail -1 "$OUT/scale.tsv")"
    done
    rm -f "$d/scale.zone" "$d/scale.pools.toml"
}

# ---------------------------------------------------------------- memory with the city DB
memory_phase() {
    local city="$REPO/geoip/city.mmdb"
    [ -e "$city" ] || "$REPO/geoip/fetch-city.sh"
    [ -n "${W:-}" ] || prepare_data
    : >"$OUT/memory.tsv"
    local server db
    for db in "$city" "$REPO/geoip/default-country.mmdb"; do
        for server in gslbd gdnsd; do
            [ "$server" = gdnsd ] && [ "$db" != "$city" ] && continue # gdnsd needs coordinates (city-auto-mode)
            local port=5370 t0 t1
            [ "$server" = gdnsd ] && port=5371
            t0=$(date +%s.%N)
            if "setup_$server" mem "$port" "$db" && wait_dns "$port" "$STARTED" "$server"; then
                t1=$(date +%s.%N)
                local pid=$STARTED r0 a0 r1 a1
                r0=$(rss_kb "$pid")
                a0=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
                timeout $((DURATION + 20)) dnsperf -s 127.0.0.1 -p "$port" -B -d "$W/ecs.bin" -l 3 -c "$UDP_CLIENTS" -T "$THREADS" >/dev/null 2>&1 || true
                r1=$(rss_kb "$pid")
                a1=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$(basename "$db")" "$(echo "$t1 - $t0" | bc)" "$r0" "$a0" "$r1" "$a1" >>"$OUT/memory.tsv"
                log "memory: $(tail -1 "$OUT/memory.tsv")"
                kill -TERM -- "-$pid" 2>/dev/null || true
                sleep 1
            else
                printf '%s\t%s\tFAILED: %s\n' "$server" "$(basename "$db")" "$(tail -3 "$W/mem-$server.log" | tr '\n' ' ')" >>"$OUT/memory.tsv"
            fi
            rm -rf "$W/mem-$server"
        done
    done
}

mkdir -p "$OUT"
has_phase install && install_peers
has_phase qps && qps_phase
has_phase scale && scale_phase
has_phase memory && memory_phase
has_phase report && python3 "$HERE/report.py" "$OUT" "$REPO" "$DURATION" "$ROUNDS" "$CLIENTS" "$THREADS" "$UDP_CLIENTS"
log "done; raw results in $OUT"
