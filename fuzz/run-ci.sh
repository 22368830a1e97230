#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time on stable Rust (`-s none`: no sanitizer,
# so no nightly needed). Seeds: fuzz/seeds/<target> (committed); new inputs go to
# fuzz/corpus/<target> (ignored by git). A crash fails CI and leaves its input in
# fuzz/artifacts/<target>/. FUZZ_SECONDS overrides the time per target (default 20).
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-20}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p target
for t in respond zone_file config tsig transfer; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${secs}s"
  log="target/fuzz-$t.log"
  status=0
  cargo fuzz run "$t" -s none "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -max_len=65535 -print_final_stats=1 >"$log" 2>&1 || status=$?
  # libFuzzer's progress lines are noise in CI: show the summary, or the whole tail on failure.
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED (exit $status); the input is in fuzz/artifacts/$t/"
    exit "$status"
  fi
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)|DONE' "$log" || true
done
