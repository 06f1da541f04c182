#!/bin/sh
# Runs the report-loader fuzz target for SECONDS from the real reports in tests/data/reports and
# every input that once crashed it (tests/fuzz/regressions). New inputs go to WORK/corpus, a
# crash to WORK/crash-*: keep it in tests/fuzz/regressions once fixed. -timeout is generous:
# every input runs in milliseconds, and a 10 s limit once fired on a machine so loaded that
# the fuzzer got no CPU (the "slow" input then ran in 0.2 s); a real endless loop still fails.
#   run_fuzzer.sh FUZZER SOURCE_DIR WORK SECONDS
set -eu
fuzzer=$1 src=$2 work=$3 seconds=$4
mkdir -p "$work/corpus"
exec "$fuzzer" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
	-dict="$src/tests/fuzz/report.dict" -artifact_prefix="$work/" \
	"$work/corpus" "$src/tests/data/reports" "$src/tests/fuzz/regressions"
