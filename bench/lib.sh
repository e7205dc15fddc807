# Timing helpers for bench/*.sh.  Figures are medians of repeated runs and
# are only ever compared as ratios with a baseline timed in the same run.

# median_ns RUNS PREPARE COMMAND: runs PREPARE (untimed) then COMMAND, RUNS
# times, with hyperfine and no shell in between; prints COMMAND's median wall
# time in nanoseconds.  Both are split on blanks: expand variables first,
# and wrap anything that needs a shell in sh -c.
median_ns() {
	_csv=$(mktemp)
	hyperfine -N --style none --runs "$1" --prepare "$2" \
		--export-csv "$_csv" -- "$3" > /dev/null 2>&1 ||
		{ echo "bench: '$3' failed" >&2; rm -f "$_csv"; return 1; }
	awk -F, 'NR == 2 { printf "%.0f", $4 * 1e9 }' "$_csv"
	rm -f "$_csv"
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.2f ms", a / 1e6 }'; }

bench_fail=0

# vm_bench NAME: the start of a bench that boots $KERNEL: skipped (exit 0)
# when there is no kernel; else a fresh work folder $W with its own cache.
vm_bench() {
	if [ ! -r "$KERNEL" ]; then
		echo "$1: no kernel at $KERNEL ('make deps' unpacks one): skipped"
		exit 0
	fi
	rm -rf "$W"
	mkdir -p "$W"
	export KTSTR_CACHE_DIR="$W/cache"
}
# target NAME VALUE OP LIMIT: OP is ge or le.
target() {
	if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !(op == "ge" ? v >= l : v <= l) }'; then
		echo "  target $1: $2 ($3 $4) met"
	else
		echo "  target $1: $2 ($3 $4) MISSED"
		bench_fail=1
	fi
}

# first_output KTPACK KERNEL WORKDIR [OPTION...]: "first_ns total_ns" of one
# `ktpack run` of busybox echo under TCG: to the command's output line, and
# to ktpack's end.
first_output() {
	_k=$1 _kern=$2 _w=$3
	shift 3
	_t0=$(date +%s%N)
	"$_k" run --accel tcg --kernel "$_kern" "$@" -- /bin/busybox echo FIRST-OUTPUT 2> /dev/null |
		while IFS= read -r _l; do
			case $_l in FIRST-OUTPUT*) date +%s%N > "$_w/first" ;; esac
		done
	_t2=$(date +%s%N)
	echo "$(($(cat "$_w/first") - _t0)) $((_t2 - _t0))"
}

# median FILE COLUMN: the median of a column of numbers.
median() { sort -n -k"$2" "$1" | sed -n "$((($(wc -l < "$1") + 1) / 2))p" | cut -d" " -f"$2"; }
