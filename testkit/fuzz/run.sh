#!/usr/bin/env bash
# Runs svcproxy's libFuzzer targets (manifest, tracker, planners) one after the other.
#
#   run.sh ci [SECONDS]     each target for SECONDS (default 20): the bounded CI run
#   run.sh long [SECONDS]   each target for SECONDS (default 600): the long run
#
# cargo fuzz needs nightly compiler flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain take them. The corpus grows in corpus/<target>/ (not committed); a crash is
# written to artifacts/<target>/ and fails the run. Set CARGO_TARGET_DIR to share a build.
# Inputs may be 4 KiB from the start (-len_control=0): libFuzzer otherwise grows the length
# limit slowly, and a 10-minute run of `planners` never got past 14-byte inputs (a relist and
# at most a pick or two).
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-ci}
case "$mode" in
  ci) seconds=${2:-20} ;;
  long) seconds=${2:-600} ;;
  *) echo "usage: $0 ci|long [SECONDS]" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

mkdir -p corpus/manifest corpus/tracker corpus/planners
cp seeds/manifest/* ../../proxy-core/examples/cluster.yaml ../../agent/src/demo/services.yaml \
  corpus/manifest/

cargo fuzz build --release --debug-assertions
for target in manifest tracker planners; do
  echo "== fuzz target $target, ${seconds}s"
  cargo fuzz run --release --debug-assertions "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
    -max_len=4096 -len_control=0
done
