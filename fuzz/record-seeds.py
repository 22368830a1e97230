#!/usr/bin/env python3
"""Records the respond target's seed corpus from real dig and kdig traffic.

A recording proxy on 127.0.0.1:RPORT (UDP and TCP) writes every query it receives to
fuzz/seeds/respond/<label>, forwards it to a running gslbd (127.0.0.1:5300 by default) and
relays the answer, so each dig/kdig command completes at once. Commands run one after
another; each one's queries are saved under its label (-2, -3 for retries or several queries).
Then truncated and oversized variants are derived from a few recorded queries (dig cannot
send those): cut at 1, 11, 12, 13 bytes and mid-record; 600 and 4000 bytes of trailing junk.

Usage (with gslbd serving the default setup):  fuzz/record-seeds.py [GSLBD_PORT]
All traffic stays on loopback; every socket has a timeout; the proxy stops when done.
"""
import os, socket, struct, subprocess, sys, threading

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds", "respond")
UPSTREAM = ("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5300)
Z = "gslb.example.com"
KEY = "hmac-sha256:tsig-key:" + "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="

current = {"label": None, "n": 0}
lock = threading.Lock()

def save(msg):
    with lock:
        label = current["label"]
        if label is None:
            return
        current["n"] += 1
        name = label if current["n"] == 1 else f"{label}-{current['n']}"
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(msg)

def udp_proxy(sock, stop):
    while not stop.is_set():
        try:
            data, src = sock.recvfrom(65535)
        except socket.timeout:
            continue
        save(data)
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.settimeout(2)
        try:
            up.sendto(data, UPSTREAM)
            sock.sendto(up.recv(65535), src)
        except OSError:
            pass
        finally:
            up.close()

def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b

def tcp_conn(c):
    c.settimeout(2)
    try:
        up = socket.create_connection(UPSTREAM, timeout=2)
        while True:
            h = read_exact(c, 2)
            if h is None:
                break
            msg = read_exact(c, struct.unpack("!H", h)[0])
            if msg is None:
                break
            save(msg)
            up.sendall(h + msg)
            rh = read_exact(up, 2)
            if rh is None:
                break
            c.sendall(rh + read_exact(up, struct.unpack("!H", rh)[0]))
        up.close()
    except OSError:
        pass
    finally:
        c.close()

def tcp_proxy(lsock, stop):
    while not stop.is_set():
        try:
            c, _ = lsock.accept()
        except socket.timeout:
            continue
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()

def commands(port):
    d = ["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+timeout=2"]
    k = ["kdig", "@127.0.0.1", "-p", str(port), "+retry=0", "+timeout=2"]
    cmds = [
        # RFC 8906 section 8 probes
        ("dig-plain-soa", d + ["+norec", "+noedns", Z, "SOA"]),
        ("dig-edns0-soa", d + ["+norec", "+edns=0", Z, "SOA"]),
        ("dig-edns1-soa", d + ["+norec", "+edns=1", "+noednsneg", Z, "SOA"]),
        ("dig-edns255", d + ["+norec", "+edns=255", "+noednsneg", Z, "SOA"]),
        ("dig-unknown-option", d + ["+norec", "+ednsopt=100", Z, "SOA"]),
        ("dig-unknown-option-data", d + ["+norec", "+ednsopt=65001:deadbeef", Z, "SOA"]),
        ("dig-unknown-flag", d + ["+norec", "+ednsflags=0x80", Z, "SOA"]),
        ("dig-all-edns-flags", d + ["+norec", "+ednsflags=0x7fff", "+dnssec", Z, "SOA"]),
        ("dig-opcode15", d + ["+opcode=15", "+header-only"]),
        ("dig-opcode15-q", d + ["+opcode=15", Z, "SOA"]),
        ("dig-opcode1-iquery", d + ["+opcode=1", Z, "A"]),
        ("dig-opcode2-status", d + ["+opcode=2", Z, "SOA"]),
        ("dig-opcode4-notify", d + ["+opcode=4", Z, "SOA"]),
        ("dig-opcode5-update", d + ["+opcode=5", Z, "SOA"]),
        ("dig-header-only", d + ["+header-only"]),
        ("dig-dnssec-512-dnskey", d + ["+norec", "+bufsize=512", "+dnssec", "+ignore", Z, "DNSKEY"]),
        ("dig-big-txt-512", d + ["+norec", "+bufsize=512", "+ignore", "big." + Z, "TXT"]),
        ("dig-big-txt-noedns", d + ["+norec", "+noedns", "+ignore", "big." + Z, "TXT"]),
        ("dig-bufsize-0", d + ["+bufsize=0", "+ignore", "big." + Z, "TXT"]),
        ("dig-bufsize-65535", d + ["+bufsize=65535", "big." + Z, "TXT"]),
        ("dig-tcp-soa", d + ["+norec", "+tcp", Z, "SOA"]),
        ("dig-tcp-big", d + ["+tcp", "big." + Z, "TXT"]),
        ("dig-tcp-keepalive", d + ["+tcp", "+keepalive", Z, "NS"]),
        # TSIG (gslbd does not verify TSIG; it answers or refuses like an unsigned server)
        ("dig-tsig-soa", d + ["-y", KEY, Z, "SOA"]),
        ("dig-tsig-axfr-tcp", d + ["-y", KEY, Z, "AXFR"]),
        ("kdig-tsig-soa", k + ["-y", KEY, Z, "SOA"]),
        # EDNS options
        ("dig-nsid", d + ["+nsid", Z, "SOA"]),
        ("dig-cookie", d + ["+cookie", Z, "SOA"]),
        ("dig-expire", d + ["+expire", Z, "SOA"]),
        ("dig-padding", d + ["+padding=128", Z, "SOA"]),
        ("dig-ecs-v4-www", d + ["+subnet=81.2.69.0/24", "www." + Z, "A"]),
        ("dig-ecs-v6-www", d + ["+subnet=2001:db8:1200::/40", "www." + Z, "AAAA"]),
        ("dig-ecs-zero", d + ["+subnet=0/0", "www." + Z, "A"]),
        ("dig-ecs-v4-32-api", d + ["+subnet=203.0.113.9/32", "api." + Z, "A"]),
        ("dig-ecs-raw-bad-bits", d + ["+ednsopt=8:00011700510245ff", "www." + Z, "A"]),
        ("dig-ecs-raw-family3", d + ["+ednsopt=8:0003180051024500", "www." + Z, "A"]),
        ("dig-ecs-twice", d + ["+subnet=81.2.69.0/24", "+ednsopt=8:000118005102ff", "www." + Z, "A"]),
        ("kdig-ecs-www", k + ["+subnet=198.51.100.0/24", "www." + Z, "A"]),
        ("kdig-ecs-v6-aaaa", k + ["+subnet=2001:db8::/56", "www." + Z, "AAAA"]),
        ("kdig-nsid-padding", k + ["+nsid", "+padding", Z, "SOA"]),
        ("kdig-cookie", k + ["+cookie", Z, "SOA"]),
        ("kdig-edns-version1", k + ["+edns=1", Z, "SOA"]),
        ("kdig-tcp-soa", k + ["+tcp", Z, "SOA"]),
        ("kdig-alignment", k + ["+alignment=64", Z, "SOA"]),
        ("kdig-noedns-any", k + ["+noedns", Z, "ANY"]),
        # header flags
        ("dig-rd-ad-cd", d + ["+rec", "+adflag", "+cdflag", "www." + Z, "A"]),
        ("dig-zflag", d + ["+zflag", Z, "SOA"]),
        ("dig-0x20", d + ["wWw.GsLb.ExAmPlE.cOm", "A"]),
        # names
        ("dig-api-a", d + ["api." + Z, "A"]),
        ("dig-static-aaaa", d + ["static." + Z, "AAAA"]),
        ("dig-chain-cname", d + ["chain." + Z, "A"]),
        ("dig-external-cname", d + ["external." + Z, "A"]),
        ("dig-wildcard", d + ["anything.wild." + Z, "TXT"]),
        ("dig-ent", d + ["b.deep." + Z, "A"]),
        ("dig-ent-below-wild", d + ["ent.wild." + Z, "A"]),
        ("dig-referral", d + ["host.child." + Z, "A"]),
        ("dig-ds-at-cut", d + ["child." + Z, "DS"]),
        ("dig-nxdomain", d + ["nothere." + Z, "A"]),
        ("dig-srv", d + ["_sip._udp." + Z, "SRV"]),
        ("dig-outside-zone", d + ["example.org", "A"]),
        ("dig-root", d + [".", "NS"]),
        ("dig-long-name", d + [".".join(["a" * 63] * 3) + ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "A"]),
        ("dig-escaped-name", d + [r"we\.ird\000." + Z, "A"]),
        ("dig-class-ch", d + ["-c", "CH", "version.bind", "TXT"]),
        ("dig-class-any", d + ["-c", "ANY", Z, "SOA"]),
        ("dig-class-none", d + ["-c", "NONE", Z, "SOA"]),
        ("dig-class-65535", d + ["-c", "CLASS65535", Z, "SOA"]),
        ("dig-ixfr", d + ["+notcp", Z, "IXFR=2026112100"]),
        ("dig-axfr-udp", d + ["+notcp", Z, "AXFR"]),
    ]
    for t in ["A", "AAAA", "NS", "MX", "TXT", "SRV", "CNAME", "SOA", "PTR", "ANY", "DS", "DNSKEY", "RRSIG",
              "NSEC", "NSEC3", "NSEC3PARAM", "CAA", "HTTPS", "SVCB", "TLSA", "NAPTR", "HINFO", "NULL",
              "OPT", "TSIG", "TKEY", "MAILB", "TYPE0", "TYPE65535", "TYPE128"]:
        cmds.append(("dig-qtype-" + t.lower(), d + ["+norec", "www." + Z, t]))
    return cmds

def derive():
    base = {n: open(os.path.join(OUT, n), "rb").read() for n in ["dig-ecs-v4-www", "dig-tsig-soa", "dig-edns0-soa"]}
    for n, b in base.items():
        for cut in sorted({1, 11, 12, 13, len(b) // 2, len(b) - 1}):
            open(os.path.join(OUT, f"cut{cut}-{n}"), "wb").write(b[:cut])
        open(os.path.join(OUT, f"oversized600-{n}"), "wb").write(b + bytes(range(256)) * 2 + b"\xff" * 88)
        open(os.path.join(OUT, f"oversized4000-{n}"), "wb").write(b + b"\xc0\x0c" * 2000)

def main():
    os.makedirs(OUT, exist_ok=True)
    stop = threading.Event()
    for _ in range(20):  # one port for UDP and TCP: the kernel picks UDP's, TCP may find it taken
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            t.bind(("127.0.0.1", port))
            break
        except OSError:
            u.close()
            t.close()
    u.settimeout(0.2)
    t.listen(16)
    t.settimeout(0.2)
    threads = [threading.Thread(target=udp_proxy, args=(u, stop)), threading.Thread(target=tcp_proxy, args=(t, stop))]
    for th in threads:
        th.start()
    try:
        for label, cmd in commands(port):
            with lock:
                current["label"], current["n"] = label, 0
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
            with lock:
                n = current["n"]
                current["label"] = None
            status = r.stdout.decode(errors="replace").split("status: ")[1].split(",")[0] if b"status: " in r.stdout else "-"
            print(f"{label}: {n} message(s), {status}")
    finally:
        stop.set()
        for th in threads:
            th.join()
        u.close()
        t.close()
    derive()

if __name__ == "__main__":
    main()
