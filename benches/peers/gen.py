#!/usr/bin/env python3
"""Data generators for benches/peers/run.sh (stdlib only, deterministic: seeded).

  gen.py geo-csv OUT.csv             bench GeoIP CSV (network,country,lat,lon) for `gslbd mmdb-build`
  gen.py ecs-queries CSV OUT.bin N   N queries `www.gslb.example.com A` with EDNS + ECS, one /24 client
                                      subnet each (drawn from CSV), in dnsperf's -B format
  gen.py scale ZONE POOLS NRECORDS NPOOLED NPOOLS
                                      a zone with NRECORDS static A records and a pool file with
                                      NPOOLED pooled names spread over NPOOLS pools
"""
import random
import struct
import sys

# Client "cities": country, latitude, longitude. The three pool regions are Ashburn (us-east),
# Dublin (eu-west) and Singapore (ap-southeast).
CITIES = [
    ("US", 40.71, -74.01), ("US", 34.05, -118.24), ("CA", 43.65, -79.38), ("BR", -23.55, -46.63),
    ("GB", 51.51, -0.13), ("DE", 50.11, 8.68), ("FR", 48.86, 2.35), ("IE", 53.35, -6.26),
    ("IN", 19.08, 72.88), ("SG", 1.29, 103.85), ("JP", 35.68, 139.69), ("AU", -33.87, 151.21),
    ("ZA", -26.20, 28.05), ("RU", 55.76, 37.62),
]
# Networks of the pool members, so PowerDNS's pickclosest() can place the answer addresses.
MEMBER_NETS = [
    ("192.0.2.0/24", "US", 39.04, -77.49),
    ("198.51.100.0/24", "IE", 53.35, -6.26),
    ("203.0.113.0/24", "SG", 1.29, 103.85),
]
# Fixed client networks, used by run.sh to check that every server answers alike.
PROBE_NETS = [
    ("81.2.69.0/24", "GB", 51.51, -0.13),    # -> eu-west
    ("1.0.16.0/24", "JP", 35.68, 139.69),    # -> ap-southeast
    ("18.0.0.0/24", "US", 42.36, -71.09),    # -> us-east
]
NETWORKS = 20000


def client_nets():
    rnd = random.Random(7)
    seen = {tuple(int(x) for x in n.split(".")[:3]) for n, *_ in PROBE_NETS}
    out = []
    while len(out) < NETWORKS:
        a = rnd.randrange(1, 224)
        if a in (10, 100, 127, 169, 172, 192, 198, 203):
            continue
        b, c = rnd.randrange(256), rnd.randrange(256)
        if (a, b, c) in seen:
            continue
        seen.add((a, b, c))
        city = CITIES[rnd.randrange(len(CITIES))]
        out.append(((a, b, c), city))
    return out


def geo_csv(path):
    with open(path, "w") as f:
        f.write("# benches/peers bench GeoIP data: random /24s at 14 cities, plus the pool member networks\n")
        for net, cc, lat, lon in MEMBER_NETS + PROBE_NETS:
            f.write(f"{net},{cc},{lat},{lon}\n")
        for (a, b, c), (cc, lat, lon) in client_nets():
            f.write(f"{a}.{b}.{c}.0/24,{cc},{lat},{lon}\n")


def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def ecs_queries(csv_path, out_path, n):
    nets = []
    with open(csv_path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            net = line.split(",")[0]
            if net.endswith("/24") and not any(net == m[0] for m in MEMBER_NETS):
                nets.append([int(x) for x in net.split("/")[0].split(".")[:3]])
    rnd = random.Random(11)
    q = qname("www.gslb.example.com")
    with open(out_path, "wb") as f:
        for i in range(n):
            a, b, c = nets[rnd.randrange(len(nets))]
            ecs = struct.pack("!HBB", 1, 24, 0) + bytes([a, b, c])
            opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(ecs)) + struct.pack("!HH", 8, len(ecs)) + ecs
            msg = struct.pack("!HHHHHH", i & 0xFFFF, 0, 1, 0, 0, 1) + q + struct.pack("!HH", 1, 1) + opt
            f.write(struct.pack("!H", len(msg)) + msg)


def scale(zone_path, pools_path, nrecords, npooled, npools):
    with open(zone_path, "w") as f:
        f.write("$ORIGIN scale.example.\n$TTL 3600\n")
        f.write("@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n")
        for i in range(nrecords):
            f.write(f"h{i} IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
    with open(pools_path, "w") as f:
        f.write("[names]\n")
        for i in range(npooled):
            f.write(f'p{i} = "pool{i % npools}"\n')
        for p in range(npools):
            a, b = (p >> 8) & 255, p & 255
            f.write(f'\n[pool.pool{p}]\nttl = 30\nmax_answers = 1\nregion_policy = "nearest"\n'
                    f'member_policy = "weighted"\ndefault_region = "us-east"\n')
            for r, (loc, first) in enumerate([("39.04, -77.49", 1), ("53.35, -6.26", 2), ("1.29, 103.85", 3)]):
                name = ["us-east", "eu-west", "ap-southeast"][r]
                f.write(f"[pool.pool{p}.region.{name}]\nlocation = [{loc}]\n"
                        f'members = [{{ address = "10.{first}{a % 10}.{b}.1", weight = 3 }}, '
                        f'{{ address = "10.{first}{a % 10}.{b}.2", weight = 1 }}]\n')


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "geo-csv":
        geo_csv(sys.argv[2])
    elif cmd == "ecs-queries":
        ecs_queries(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "scale":
        scale(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]))
    else:
        sys.exit(__doc__)
