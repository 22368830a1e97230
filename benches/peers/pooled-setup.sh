# Sourced by callgrind.sh and cpusplit.sh: the bench's pooled case (www steered by the bench's
# pool and GeoIP database) for gslbd and gdnsd, written into a scratch folder.
#
#   pooled_setup TOOL WORK DIR GEODB GSLBD_PORT GDNSD_PORT WORKERS
#
# TOOL names the caller in errors; WORK is the work folder of a run.sh run (it must hold
# bench.mmdb, ecs.bin, pools.toml and the pooled zones); DIR gets gslbd.toml and gdnsd/ (config,
# zones, run, state); both servers listen on 127.0.0.1 with WORKERS UDP threads.
pooled_setup() {
    local tool="$1" w="$2" d="$3" db="$4" gport="$5" dport="$6" workers="$7" f
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    for f in bench.mmdb ecs.bin pools.toml pooled-gslbd.zone pooled-gdnsd.zone; do
        [ -e "$w/$f" ] || { echo "$tool: $w/$f is missing (run benches/peers/run.sh first)" >&2; exit 1; }
    done
    cat >"$d/gslbd.toml" <<CONF
[server]
listen = ["127.0.0.1:$gport"]
udp_workers = $workers
[geoip]
database = "$db"
[[zone]]
origin = "gslb.example.com."
file = "$w/pooled-gslbd.zone"
pools = "$w/pools.toml"
CONF
    mkdir -p "$d/gdnsd/zones" "$d/gdnsd/run" "$d/gdnsd/state"
    sed -e "s|@PORT@|$dport|g" -e "s|@DIR@|$d/gdnsd|g" -e "s|@GEODB@|$db|g" \
        -e "s|udp_threads => 2|udp_threads => $workers|" "$here/templates/gdnsd.config.in" >"$d/gdnsd/config"
    cp "$w/pooled-gdnsd.zone" "$d/gdnsd/zones/gslb.example.com"
}
