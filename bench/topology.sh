#!/bin/sh
# make bench, topology: boot to the command's first output of a guest of
# 16 CPUs in 2 NUMA nodes, 2 LLCs per node, 2 cores per LLC and 2 threads
# per core (--topology 2n2l2c2t: QEMU's sockets, dies and threads, a NUMA
# node per socket) against the same 16 CPUs flat (--cpus 16), under TCG,
# in one loop whose order turns each round.
#
# Under TCG a topology also changes the CPU model: `max,vendor=GenuineIntel`
# (so that QEMU describes the dies' caches) where a flat guest gets the
# AMD-flavoured `max`.  TCG's `max` does not say its TSC is constant, and
# then Linux trusts the TSCs of more than one CPU to be in sync only when
# the vendor is Intel: otherwise it calibrates each CPU's delay loop and
# keeps time with the HPET, whose every read QEMU emulates, and a flat
# 16-CPU guest boots over twice as slowly for that alone.  So what the
# topology itself costs (sockets, dies, threads, the NUMA nodes) is
# measured against flat 16 CPUs of that same CPU model (--qemu-opt -cpu):
# the target; plain --cpus 16 is printed beside it.
#   bench/topology.sh KTPACK KERNEL WORKDIR
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 KERNEL=$2 W=$3
RUNS=${BENCH_TOPOLOGY_RUNS:-5}
TOPO=2n2l2c2t
vm_bench topology

# one KIND: appends "first_ns total_ns" of one boot of KIND to its file
one() {
	case $1 in
	topo) set -- topo --topology "$TOPO" ;;
	intel) set -- intel --cpus 16 --qemu-opt -cpu --qemu-opt max,vendor=GenuineIntel ;;
	flat) set -- flat --cpus 16 ;;
	esac
	f=$W/$1
	shift
	first_output "$KTPACK" "$KERNEL" "$W" "$@" >> "$f"
}
first_output "$KTPACK" "$KERNEL" "$W" > /dev/null	# the vmlinux and the base, cached
: > "$W/topo"
: > "$W/intel"
: > "$W/flat"
i=0
while [ $i -lt "$RUNS" ]; do
	case $((i % 3)) in
	0) one topo; one intel; one flat ;;
	1) one intel; one flat; one topo ;;
	2) one flat; one topo; one intel ;;
	esac
	i=$((i + 1))
done
topo=$(median "$W/topo" 1) intel=$(median "$W/intel" 1) flat=$(median "$W/flat" 1)
echo "topology under TCG ($(basename "$(readlink -f "$KERNEL")"), 16 vCPUs, median of $RUNS runs each):"
echo "  first output, --topology $TOPO (-cpu max,vendor=GenuineIntel)  $(ms "$topo")"
echo "  first output, --cpus 16, the same -cpu                         $(ms "$intel")"
echo "  first output, --cpus 16 (-cpu max)                             $(ms "$flat") (topology/flat $(ratio "$topo" "$flat"))"
target "topology/flat of the same CPU model, first output" "$(ratio "$topo" "$intel")" le 1.2
rm -rf "$W"
exit $bench_fail
