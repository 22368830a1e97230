#!/bin/sh
# Fetch the ip-location-db ASN lists from the npm registry and build geoip/asn.mmdb
# (GeoLite2-ASN layout, IPv4 and IPv6 in one file) for `[geoip] asn_database`.
#
#   geoip/fetch-asn.sh [path/to/gslbd]
#
# Package: npm `@ip-location-db/asn` (CSV `start,end,asn,organization`; RouteViews, the RIRs
# and DB-IP ASN Lite merged by ip-location-db). Licence: CC BY 4.0; attribution to
# routeviews.org and "IP Geolocation by DB-IP" (https://db-ip.com) required.
# Building takes about 30 s (debug build) and writes a 10 MB file.
# Requires npm (only the npm registry is contacted), tar and a built gslbd.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
gslbd="${1:-$here/../target/release/gslbd}"
[ -x "$gslbd" ] || gslbd="$here/../target/debug/gslbd"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
pkg=@ip-location-db/asn
version="$(npm view "$pkg" version 2>/dev/null)"
echo "fetching $pkg@$version ..." >&2
npm pack --silent "$pkg@$version" >/dev/null 2>&1
tar xzf ./*.tgz
# Written next to the destination, then renamed: the watcher reloads on the rename.
"$gslbd" mmdb-build --asn-ranges package/asn-ipv4.csv package/asn-ipv6.csv -o "$here/.asn.mmdb.tmp"
mv -f "$here/.asn.mmdb.tmp" "$here/asn.mmdb"
printf '%s\n' "$pkg@$version asn-ipv4.csv asn-ipv6.csv $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$here/asn.mmdb.source"
echo "wrote $here/asn.mmdb; set [geoip] asn_database = \"geoip/asn.mmdb\" in gslbd.toml" >&2
