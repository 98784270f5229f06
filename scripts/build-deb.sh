#!/usr/bin/env bash
# Builds the Debian package into target/debian/ with cargo-deb: the two
# binaries, the systemd unit, the example configuration as a conffile, man
# pages and bash completion generated from the clap definitions.
#   PROFILE=release (default) or PROFILE=dev for a quick test build.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
case "$profile" in
    release) out=release ;;
    dev) out=debug ;;
    *) out=$profile ;;
esac
command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked
cargo build --profile "$profile" -p raftmasq --bin raftmasq -p raftmasq-dnsctl --bin dnsctl
rm -rf target/man && mkdir -p target/man
"target/$out/raftmasq" man --dir target/man
"target/$out/dnsctl" man --dir target/man
"target/$out/dnsctl" completions bash > target/man/dnsctl.bash
gzip -9nf target/man/*.1 target/man/*.8
cargo deb --no-build --profile "$profile" --no-strip -p raftmasq "$@"
