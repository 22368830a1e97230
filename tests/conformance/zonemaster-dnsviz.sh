#!/usr/bin/env bash
# Runs inside `unshare -n` (only loopback exists): a root served and signed by Knot on
# 127.53.0.100:53 and example.com. by another Knot on 127.53.0.101:53 (each DS in its parent),
# gslb.example.com. served and signed online by gslbd (the default setup: keys made at first
# start) on 127.53.0.1:53 and 127.53.0.2:53, its DS in example.com. from `gslbd dnssec ds`;
# then zonemaster-cli and dnsviz probe+grok (the root's KSK as trust anchor) against that
# chain of trust. Called by tests/conformance.rs with GSLBD=<binary> ROOT=<repo> WORK=<temp
# dir>. Prints the tools' findings; the Rust test judges.
set -euo pipefail
ip link set lo up
cd "$WORK"
Z=gslb.example.com
# The default zone, with the name servers' glue on the namespace's loopback addresses.
sed -e 's/^ns1 .*IN A .*/ns1         IN A     127.53.0.1/' -e 's/^ns2 .*IN A .*/ns2         IN A     127.53.0.2/' \
    -e '/^ns[12] .*IN AAAA/d' "$ROOT/zones/$Z.zone" > "$Z.zone"
cp "$ROOT/zones/$Z.pools.toml" .
cp -r "$ROOT/geoip" geoip
cat > gslbd.toml <<TOML
[server]
listen = ["127.53.0.1:53", "127.53.0.2:53"]
udp_workers = 1
[server.rrl]
enabled = false
[geoip]
database = "geoip/default-country.mmdb"
[[zone]]
origin = "$Z."
file = "$Z.zone"
pools = "$Z.pools.toml"
[zone.dnssec]
enabled = true
TOML
cat > root.zone <<ZONE
. 3600 IN SOA a.root-servers.net. hostmaster.root. 1 7200 900 1209600 300
. 3600 IN NS a.root-servers.net.
a.root-servers.net. 3600 IN A 127.53.0.100
example.com. 3600 IN NS ns.example.com.
ns.example.com. 3600 IN A 127.53.0.101
ZONE
cat > example.com.zone <<ZONE
example.com. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
example.com. 3600 IN NS ns.example.com.
ns.example.com. 3600 IN A 127.53.0.101
$Z. 3600 IN NS ns1.$Z.
$Z. 3600 IN NS ns2.$Z.
ns1.$Z. 3600 IN A 127.53.0.1
ns2.$Z. 3600 IN A 127.53.0.2
ZONE
"$GSLBD" serve --config gslbd.toml >gslbd.out 2>gslbd.log & GSLBD_PID=$!
trap 'kill $GSLBD_PID 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 50); do
  dig +short +time=1 +tries=1 @127.53.0.2 $Z SOA | grep -q . && break
  sleep 0.1
done
# The parent publishes the DS of gslbd's KSK (made at this first start); Knot signs the parent.
"$GSLBD" dnssec --config gslbd.toml ds $Z >> example.com.zone
# Two Knot instances, both signing: the root on .100, example.com. on .101 (so that the DS of
# example.com. is asked of a server that does not also serve the child).
knot_conf() { # NAME ADDRESS ZONE FILE SIGNED
  mkdir -p "$WORK/$1"
  cat > "$1.conf" <<KNOT
server:
    listen: $2@53
    rundir: $WORK/$1
log:
  - target: stderr
    any: warning
database:
    storage: $WORK/$1
policy:
  - id: signed
    algorithm: ecdsap256sha256
    nsec3: off
template:
  - id: default
    storage: $WORK/$1
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: $3
    file: $WORK/$4
    dnssec-signing: $5
    dnssec-policy: signed
KNOT
}
knot_conf root 127.53.0.100 . root.zone on
knot_conf parent 127.53.0.101 example.com. example.com.zone on
knotd -c parent.conf 2>knot-parent.log & KNOT2_PID=$!
trap 'kill $KNOT2_PID $GSLBD_PID 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 50); do
  dig +dnssec +time=1 +tries=1 @127.53.0.101 example.com SOA 2>/dev/null | grep -q RRSIG && break
  sleep 0.1
done
# The root publishes the DS of Knot's example.com. KSK (computed by BIND's dnssec-dsfromkey).
dig +noall +answer +time=1 +tries=1 @127.53.0.101 example.com DNSKEY | dnssec-dsfromkey -2 -f - example.com >> root.zone
knotd -c root.conf 2>knot.log & KNOT_PID=$!
trap 'kill $KNOT_PID $KNOT2_PID $GSLBD_PID 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 50); do
  dig +dnssec +time=1 +tries=1 @127.53.0.100 . SOA 2>/dev/null | grep -q RRSIG && break
  sleep 0.1
done
# The root's KSK, the one trust anchor dnsviz is given.
dig +noall +answer +time=1 +tries=1 @127.53.0.100 . DNSKEY | awk '$5 == 257' > root.anchor
echo "root anchor: $(wc -l < root.anchor) KSK; DS for example.com: $(grep -c ' DS ' root.zone); DS for $Z: $(grep -c ' DS ' example.com.zone)"
printf '. 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 127.53.0.100\n' > hints
echo '{"test_levels":{"ADDRESS":{"NAMESERVER_IP_PRIVATE_NETWORK":"INFO","NAMESERVER_IP_WITHOUT_REVERSE":"INFO"}}}' > profile.json
if [ "${RUN_ZONEMASTER:-1}" = 1 ]; then
  echo "== zonemaster"
  timeout 120 zonemaster-cli --no-progress --hints hints --profile profile.json --no-ipv6 --show-testcase --level NOTICE --count $Z || echo "zonemaster-cli exit $?"
fi
if [ "${RUN_DNSVIZ:-1}" = 1 ]; then
  echo "== dnsviz"
  # The apex, a pooled name, a static name, a wildcard: dnsviz adds its own NXDOMAIN and NODATA probes.
  timeout 120 dnsviz probe -A -E -n -a . -x ".:a.root-servers.net=127.53.0.100" -x "example.com:ns.example.com=127.53.0.101" \
      -x "$Z:ns1.$Z=127.53.0.1,ns2.$Z=127.53.0.2" -o probe.json $Z www.$Z static.$Z host.wild.$Z 2>dnsviz.err \
      || { echo "dnsviz probe exit $?"; cat dnsviz.err; }
  echo "probe.json: $(wc -c < probe.json) bytes"
  # grok at level "warning" lists only names with warnings or errors; at "info" every name. The
  # shim supplies the pygraphviz.release module Debian's dnsviz 0.9.4 imports for -t.
  GROK="/usr/bin/python3 $ROOT/tests/conformance/dnsviz-grok.py grok -t root.anchor"
  timeout 60 $GROK -l warning -r probe.json > grok.json || echo "dnsviz grok exit $?"
  timeout 60 $GROK -l info -r probe.json > grok-info.json || echo "dnsviz grok exit $?"
  echo "grok (warning and up):"; cat grok.json; echo
  echo "grok-info: $(wc -c < grok-info.json) bytes; status: $(grep -o '"status": *"[A-Z]*"' grok-info.json | sort | uniq -c | tr '\n' ' ')"
fi
