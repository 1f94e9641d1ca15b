#!/bin/sh
# run.sh SECONDS TARGET... - runs each libFuzzer target for SECONDS on a
# working copy of its seed corpus (tests/fuzz/corpus/TARGET), so the
# committed corpus only changes when someone adds a seed on purpose.
# A dictionary tests/fuzz/TARGET.dict is used when there is one.
# Exits non-zero when a target finds a crash, a leak or a timeout; the
# failing input is kept in build/fuzz/.
set -u
secs=$1
shift
dir=$PWD/build/fuzz # absolute: a target may chdir (fuzz_config does)
status=0
for t in "$@"; do
	work=$dir/corpus/$t
	mkdir -p "$work"
	cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
	echo "fuzz $t: ${secs}s"
	dict=
	[ -f tests/fuzz/"$t".dict ] && dict=-dict=$PWD/tests/fuzz/"$t".dict
	if ! "$dir/fuzz_$t" $dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/$t-" "$work" >"$dir/$t.log" 2>&1; then
		echo "fuzz $t: FAILED, see $dir/$t.log"
		grep -E "ERROR|SUMMARY|Test unit written" "$dir/$t.log" | head -5
		status=1
	else
		grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$dir/$t.log" | tr '\n' ' '
		echo
	fi
done
[ $status = 0 ] && echo "fuzz: all targets ran clean"
exit $status
