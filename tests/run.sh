#!/bin/sh
# Runs every test of `make check` and closes with "N passed, N failed".
#   tests/run.sh OUT
# Unit tests run as built, under ASan/UBSan (OUT/asan) and built by clang
# (OUT/clang); shell tests
# (tests/t*.sh) run against OUT/ktpack and OUT/fixture/ktpack.
set -u
OUT=${1:-out}
cd "$(dirname "$0")/.." || exit 1
OUT=$(cd "$OUT" && pwd)
export KT_OUT="$OUT"

pass=0 fail=0 failed=
tally() { # name, passed, failed
	pass=$((pass + $2))
	fail=$((fail + $3))
	[ "$3" -eq 0 ] || failed="$failed $1"
}

for t in "$OUT"/tests/test_* "$OUT"/asan/tests/test_* "$OUT"/clang/tests/test_*; do
	[ -x "$t" ] || continue
	log=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$log"
	p=$(printf '%s\n' "$log" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	f=$(printf '%s\n' "$log" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	[ -n "$p" ] || p=0
	[ -n "$f" ] || f=0
	# A crash before cmocka's summary is a failure too.
	[ "$rc" -eq 0 ] || [ "$f" -ne 0 ] || f=1
	tally "${t#"$OUT"/}" "$p" "$f"
done

for t in tests/t[0-9]*.sh; do
	res=$(mktemp)
	KT_RESULT="$res" sh "$t"
	rc=$?
	read -r p f < "$res" || { p=0 f=1; }
	rm -f "$res"
	[ "$rc" -eq 0 ] || [ "$f" -ne 0 ] || f=1
	tally "$t" "$p" "$f"
done

[ -z "$failed" ] || echo "failing:$failed"
echo "check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
