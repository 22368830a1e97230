#!/usr/bin/env bash
# Installs the built .deb with dpkg -i and checks what the package promises: the installed
# config checks clean, systemd accepts the unit, the man page renders, the completions and
# the system user exist. Then purges it again (leaves the machine as it was).
# Needs root; run deploy/build-deb.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls -t target/debian/gslbd_*.deb | head -1)
echo "deb-smoke: installing $deb"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
trap 'DEBIAN_FRONTEND=noninteractive dpkg --purge gslbd >/dev/null || true' EXIT

/usr/bin/gslbd --version
/usr/bin/gslbd check --config /etc/gslbd/gslbd.toml
getent passwd gslbd >/dev/null || { echo "deb-smoke: no gslbd system user"; exit 1; }
stat -c '%U:%G %a %n' /etc/gslbd/admin.token
[ "$(stat -c '%G %a' /etc/gslbd/admin.token)" = "gslbd 640" ] || { echo "deb-smoke: admin.token is not root:gslbd 0640"; exit 1; }
unit=$(ls /usr/lib/systemd/system/gslbd.service /lib/systemd/system/gslbd.service 2>/dev/null | head -1)
grep -qx 'StateDirectory=gslbd' "$unit" || { echo "deb-smoke: the unit has no StateDirectory"; exit 1; }
# --man=no: systemd-analyze would otherwise look up the Documentation= man page through man-db.
systemd-analyze verify --man=no "$unit"
echo "deb-smoke: systemd-analyze verify accepts $unit"
MANWIDTH=100 man -P cat gslbd > target/debian/gslbd.man.txt
grep -q 'SIGHUP' target/debian/gslbd.man.txt || { echo "deb-smoke: the man page lacks SIGHUP"; exit 1; }
head -12 target/debian/gslbd.man.txt
for f in /usr/share/bash-completion/completions/gslbd /usr/share/zsh/vendor-completions/_gslbd /usr/share/fish/vendor_completions.d/gslbd.fish; do
  [ -s "$f" ] || { echo "deb-smoke: missing $f"; exit 1; }
done
bash -n /usr/share/bash-completion/completions/gslbd
echo "deb-smoke: ok"
