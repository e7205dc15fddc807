#!/bin/sh
# The fuzz targets of `make fuzz` build and run clean over their seeds for
# a few thousand inputs (the long runs are `make fuzz`).
. "$(dirname "$0")/lib.sh"
F="$KT_OUT/fuzz"

for t in elfinfo ldcache channel bzimage kconfig; do
	test_expect_success "fuzz target $t runs clean for 5000 inputs" '
		mkdir corpus
		"$F/fuzz_'$t'" -runs=5000 -max_len=65536 corpus "$F/seed-'$t'" > log 2>&1 ||
			{ tail -n 30 log; false; }
		grep -q "Done 5000 runs" log
	'
done

test_done
