#!/usr/bin/env bash
# Builds the Debian package into target/debian/ with cargo-deb: the two
# binaries, the systemd unit, the example configuration as a conffile, man
# pages (raftmasq.toml(5) from docs/configuration.md), completions for
# every shell, generated from the clap definitions, and the monitoring files
# of packaging/prometheus/ and packaging/grafana/ (docs/metrics.md).
#   PROFILE=release (default) or PROFILE=dev for a quick test build.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
case "$profile" in
    release) out=release ;;
    dev) out=debug ;;
    *) out=$profile ;;
esac
# The binaries are where cargo put them (CARGO_TARGET_DIR when set); the
# man pages and completions go to ./target/man, where the package's assets
# (Cargo.toml) name them.
bin_dir="${CARGO_TARGET_DIR:-target}/$out"
command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked
cargo build --profile "$profile" -p raftmasq --bin raftmasq -p raftmasq-dnsctl --bin dnsctl
rm -rf target/man && mkdir -p target/man
"$bin_dir/raftmasq" man --dir target/man
"$bin_dir/dnsctl" man --dir target/man
# Completions of both binaries for every shell clap supports; the package
# puts each where its shell looks (elvish and PowerShell have no system
# directory on Debian: they go to /usr/share/raftmasq/completions/).
mkdir -p target/man/completions
for bin in raftmasq dnsctl; do
    "$bin_dir/$bin" completions bash > "target/man/completions/$bin.bash"
    "$bin_dir/$bin" completions zsh > "target/man/completions/_$bin"
    "$bin_dir/$bin" completions fish > "target/man/completions/$bin.fish"
    "$bin_dir/$bin" completions elvish > "target/man/completions/$bin.elv"
    "$bin_dir/$bin" completions powershell > "target/man/completions/$bin.ps1"
done
gzip -9nf target/man/*.1 target/man/*.5 target/man/*.8
cargo deb --no-build --profile "$profile" --no-strip -p raftmasq "$@"
