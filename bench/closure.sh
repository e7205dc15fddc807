#!/bin/sh
# make bench, closure: `ktpack ldd` over every dynamically linked program in
# /usr/bin in one process, against glibc's `ldd` run on the same files (and
# lddtree, when it runs here).
#   bench/closure.sh KTPACK WORKDIR
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 W=$2
RUNS=${BENCH_RUNS:-5}
mkdir -p "$W"

# The dynamically linked programs: those ktpack gives an interpreter.
list="$W/dynamic-programs"
: > "$list"
for f in /usr/bin/*; do
	[ -f "$f" ] && [ ! -L "$f" ] || continue
	head -c 4 "$f" | grep -q ELF || continue
	"$KTPACK" ldd "$f" 2> /dev/null | grep -q "^	interpreter" && echo "$f" >> "$list"
done
n=$(wc -l < "$list")
printf '#!/bin/sh\nexec "%s" ldd %s > /dev/null\n' "$KTPACK" "$(tr '\n' ' ' < "$list")" > "$W/kt.sh"
printf '#!/bin/sh\nfor f in %s; do ldd "$f"; done > /dev/null 2>&1\n' "$(tr '\n' ' ' < "$list")" > "$W/ldd.sh"
chmod +x "$W/kt.sh" "$W/ldd.sh"

kt=$(median_ns "$RUNS" true "$W/kt.sh")
ldd=$(median_ns "$RUNS" true "$W/ldd.sh")
echo "closure of $n dynamic programs in /usr/bin, median of $RUNS runs:"
echo "  ktpack ldd (one process)   $(ms "$kt")"
echo "  ldd, once per file         $(ms "$ldd")"
if lddtree /bin/true > /dev/null 2>&1; then
	printf '#!/bin/sh\nlddtree %s > /dev/null 2>&1\n' "$(tr '\n' ' ' < "$list")" > "$W/lddtree.sh"
	chmod +x "$W/lddtree.sh"
	lt=$(median_ns "$RUNS" true "$W/lddtree.sh")
	echo "  lddtree                    $(ms "$lt")"
	echo "  (speed-up over lddtree: $(ratio "$lt" "$kt"))"
else
	echo "  (lddtree does not run here: skipped)"
fi
target "speed-up over ldd" "$(ratio "$ldd" "$kt")" ge 30
exit $bench_fail
