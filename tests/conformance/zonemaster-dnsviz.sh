#!/usr/bin/env bash
# Runs inside `unshare -n` (only loopback exists): a root and example.com. served by Knot on
# 127.53.0.100:53, gslb.example.com. served by gslbd on 127.53.0.1:53 and 127.53.0.2:53, then
# zonemaster-cli and dnsviz probe+grok against that hierarchy. Called by tests/conformance.rs
# with GSLBD=<binary> ROOT=<repo> WORK=<temp dir>. Prints the tools' findings; the Rust test judges.
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
TOML
cat > root.zone <<ZONE
. 3600 IN SOA a.root-servers.net. hostmaster.root. 1 7200 900 1209600 300
. 3600 IN NS a.root-servers.net.
a.root-servers.net. 3600 IN A 127.53.0.100
com. 3600 IN NS a.root-servers.net.
example.com. 3600 IN NS a.root-servers.net.
ZONE
cat > example.com.zone <<ZONE
example.com. 3600 IN SOA a.root-servers.net. hostmaster.example.com. 1 7200 900 1209600 300
example.com. 3600 IN NS a.root-servers.net.
$Z. 3600 IN NS ns1.$Z.
$Z. 3600 IN NS ns2.$Z.
ns1.$Z. 3600 IN A 127.53.0.1
ns2.$Z. 3600 IN A 127.53.0.2
ZONE
cat > knot.conf <<KNOT
server:
    listen: 127.53.0.100@53
    rundir: $WORK
log:
  - target: stderr
    any: warning
database:
    storage: $WORK
template:
  - id: default
    storage: $WORK
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: .
    file: $WORK/root.zone
  - domain: example.com.
    file: $WORK/example.com.zone
KNOT
knotd -c knot.conf 2>knot.log & KNOT_PID=$!
"$GSLBD" serve --config gslbd.toml >gslbd.out 2>gslbd.log & GSLBD_PID=$!
trap 'kill $KNOT_PID $GSLBD_PID 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 50); do
  dig +short +time=1 +tries=1 @127.53.0.100 example.com SOA >/dev/null 2>&1 && dig +short +time=1 +tries=1 @127.53.0.2 $Z SOA | grep -q . && break
  sleep 0.1
done
printf '. 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 127.53.0.100\n' > hints
echo '{"test_levels":{"ADDRESS":{"NAMESERVER_IP_PRIVATE_NETWORK":"INFO","NAMESERVER_IP_WITHOUT_REVERSE":"INFO"}}}' > profile.json
if [ "${RUN_ZONEMASTER:-1}" = 1 ]; then
  echo "== zonemaster"
  timeout 120 zonemaster-cli --no-progress --hints hints --profile profile.json --no-ipv6 --show-testcase --level NOTICE --count $Z || echo "zonemaster-cli exit $?"
fi
if [ "${RUN_DNSVIZ:-1}" = 1 ]; then
  echo "== dnsviz"
  timeout 120 dnsviz probe -A -E -n -x "$Z+:ns1.$Z=127.53.0.1,ns2.$Z=127.53.0.2" -o probe.json $Z 2>dnsviz.err || { echo "dnsviz probe exit $?"; cat dnsviz.err; }
  echo "probe.json: $(wc -c < probe.json) bytes"
  # grok at level "warning" lists only names with warnings or errors; at "info" every name.
  timeout 60 dnsviz grok -l warning -r probe.json > grok.json || echo "dnsviz grok exit $?"
  timeout 60 dnsviz grok -l info -r probe.json > grok-info.json || echo "dnsviz grok exit $?"
  echo "grok (warning and up):"; cat grok.json; echo
  echo "grok-info: $(wc -c < grok-info.json) bytes; status: $(grep -o '"status": *"[A-Z]*"' grok-info.json | sort | uniq -c | tr '\n' ' ')"
fi
