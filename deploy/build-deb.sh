#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: target/debian/gslbd_<version>-1_<arch>.deb.
#   deploy/build-deb.sh                  release build (what to ship)
#   deploy/build-deb.sh --profile dev    reuse the test build (what CI checks: the package's
#                                        layout, scripts and unit, without a second full build)
# The man page and the shell completions are generated from the built binary first
# (`gslbd man`, `gslbd completions`), so they always match its --help.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ "${1:-}" = "--profile" ]; then profile="${2:?--profile needs a name}"; fi
command -v cargo-deb >/dev/null || { echo "build-deb: cargo-deb is not installed (cargo install cargo-deb --locked)"; exit 1; }

cargo build --locked --profile "$profile" --bin gslbd
dir=release; [ "$profile" = dev ] && dir=debug; [ "$profile" != dev ] && [ "$profile" != release ] && dir="$profile"
bin="target/$dir/gslbd"
assets=target/deb-assets
rm -rf "$assets" && mkdir -p "$assets"
"$bin" man | gzip -9n > "$assets/gslbd.1.gz"
"$bin" completions bash > "$assets/gslbd.bash"
"$bin" completions zsh > "$assets/_gslbd"
"$bin" completions fish > "$assets/gslbd.fish"
cargo deb --no-build --profile "$profile" --fast --output target/debian/
ls -l target/debian/*.deb
