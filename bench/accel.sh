#!/bin/sh
# make bench, KVM or TCG: what a KVM that cannot boot kernels costs, with
# the test double of QEMU that hangs every KVM boot (the probe's boot
# sector passes), next to plain --accel tcg runs in the same loop:
#  - the first run with no verdict kept (the boot given up at its bound,
#    then TCG), median of 3;
#  - the next runs, which go straight to TCG, against --accel tcg,
#    interleaved ABBA.
# And where the host can run a TCG guest with SVM (nested KVM): the inner
# KVM boot of the kernel, from QEMU's start to the guest's init, against
# the same for this host's TCG boot.
#   bench/accel.sh KTPACK_WITH_FIXTURE KERNEL WORKDIR
set -eu
. "$(dirname "$0")/lib.sh"
KTPACK=$1 KERNEL=$2 W=$3
HANGS="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/qemu-kvm-hangs.sh"
RUNS=${BENCH_ACCEL_RUNS:-8}
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "accel: no usable /dev/kvm (ktpack probes only where there is one): skipped"
	exit 0
fi
vm_bench accel

# one FILE [OPTION...]: appends "first_ns total_ns" of one run to FILE
one() {
	f=$1
	shift
	first_output "$KTPACK" "$KERNEL" "$W" "$@" >> "$f"
}
one "$W/warm"				# the vmlinux and the base, cached
: > "$W/fallback"
for i in 1 2 3; do
	rm -f "$KTSTR_CACHE_DIR"/kvm-*
	one "$W/fallback" --accel auto --qemu "$HANGS"
done
: > "$W/tcg"
: > "$W/again"
i=0
while [ $i -lt "$RUNS" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		one "$W/tcg"
		one "$W/again" --accel auto --qemu "$HANGS"
	else
		one "$W/again" --accel auto --qemu "$HANGS"
		one "$W/tcg"
	fi
	i=$((i + 1))
done
tcg=$(median "$W/tcg" 1) fallback=$(median "$W/fallback" 1) again=$(median "$W/again" 1)
echo "KVM that cannot boot the kernel (a QEMU double that hangs every KVM boot), first output:"
echo "  --accel tcg                         $(ms "$tcg") (median of $RUNS)"
echo "  auto, no verdict kept (falls back)  $(ms "$fallback") (median of 3)"
echo "  auto, the verdict kept              $(ms "$again") (median of $RUNS, interleaved)"
target "auto with the verdict kept / tcg" "$(ratio "$again" "$tcg")" le 1.05
# the bound of a KVM boot (KT_KVM_LIFE_S) plus one TCG boot
target "fallback / (20 s + tcg)" \
	"$(awk -v f="$fallback" -v t="$tcg" 'BEGIN { printf "%.3f", f / (20e9 + t) }')" le 1.05

# nested: only where the outer guest can load kvm_amd
tree=$(ls -d "$(dirname "$(readlink -f "$KERNEL")")"/lib/modules/*/ 2> /dev/null | head -n 1)
if ! qemu-system-x86_64 -cpu help | grep -qw svm || [ -z "$tree" ] ||
	[ -z "$(find "$tree" -name "kvm-amd.ko*" | head -n 1)" ]; then
	echo "  (no kvm_amd module or no SVM under TCG: the nested KVM boot is skipped)"
	rm -rf "$W"
	exit $bench_fail
fi
v=$("$(dirname "$0")/../tests/fixtures/channel-tree.sh" "$KERNEL" "$W/mods")
cat > "$W/inner.sh" <<EOF
export KTPACK_DEBUG=1
for i in 1 2 3 4 5; do
	/bin/ktpack run --kernel /k/vmlinux --modules /k/mods/$v --accel kvm -- /bin/busybox true
done
EOF
vmlinux=$(ls "$KTSTR_CACHE_DIR"/vmlinux-* | head -n 1)
"$KTPACK" run --kernel "$KERNEL" --accel tcg -m 2G --module kvm_amd --timeout 900 \
	--include "$KTPACK:/bin/ktpack" --include "$(command -v qemu-system-x86_64)" \
	--include /usr/share/qemu --include /usr/share/seabios \
	--include "$vmlinux:/k/vmlinux" --include "$W/mods:/k/mods" \
	--include "$W/inner.sh:/inner.sh" -- /bin/busybox sh /inner.sh > "$W/nested" 2>&1
sed -n 's/^ktpack: debug: KVM: the guest.s init runs after \([0-9]*\) ms$/\1/p' "$W/nested" > "$W/inner"
: > "$W/outer"
for i in 1 2 3 4 5; do
	KTPACK_DEBUG=1 "$KTPACK" run --kernel "$KERNEL" --accel tcg -- /bin/busybox true 2>&1 |
		sed -n 's/^ktpack: debug: TCG: the guest.s init runs after \([0-9]*\) ms$/\1/p' >> "$W/outer"
done
if [ "$(wc -l < "$W/inner")" -eq 0 ]; then
	echo "  nested KVM: the inner boots did not run:"
	sed 's/^/    /' "$W/nested"
	exit 1
fi
echo "QEMU's start to the guest's init, median of 5:"
echo "  inner KVM boot, in a TCG guest with SVM  $(median "$W/inner" 1) ms"
echo "  this host's TCG boot of the same kernel  $(median "$W/outer" 1) ms"
rm -rf "$W"
exit $bench_fail
