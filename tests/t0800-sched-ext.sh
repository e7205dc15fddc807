#!/bin/sh
# The sched_ext kernel and scheduler that `make deps` puts in
# /var/cache/ktpack/sched_ext: the kernel has sched_ext, and scx_simple
# attaches in a guest and is ejected by SysRq-S.
. "$(dirname "$0")/lib.sh"
KERNEL="$SCX_DIR/vmlinuz"
test_shared_cache

test_lazy_prereq PYTHON 'command -v python3'

test_expect_success SCHED_EXT,PYTHON 'kernel --json: the sched_ext kernel has SCHED_CLASS_EXT=y' '
	"$KTPACK" kernel --json "$KERNEL" > out
	SCX_DIR="$SCX_DIR" python3 -c "
import json, os
d = json.load(open(\"out\"))
assert d[\"configs\"][\"CONFIG_SCHED_CLASS_EXT\"] == \"y\", d
assert d[\"config\"].startswith(os.environ[\"SCX_DIR\"] + \"/config-\"), d
"
'

test_expect_success SCHED_EXT,QEMU 'scx_simple attaches in a guest, SysRq-S ejects it' '
	cat > scx.sh <<\EOF
/bin/scx_simple > /tmp/scx.log 2>&1 &
i=0
while [ "$(cat /sys/kernel/sched_ext/state)" != enabled ] && [ $i -lt 60 ]; do
	sleep 0.5
	i=$((i + 1))
done
echo "state $(cat /sys/kernel/sched_ext/state)"
echo "ops $(cat /sys/kernel/sched_ext/root/ops)"
echo S > /proc/sysrq-trigger
wait
echo "after $(cat /sys/kernel/sched_ext/state)"
cat /tmp/scx.log >&2
EOF
	# one CPU: on a loaded host, this kernel under QEMU 7.2 multi-threaded
	# TCG once died in its boot (an "Oops: int3" at a jump label being
	# patched, sched_clock_cpu, CPU 1): a race of code patched on one
	# vCPU and run on another, no fault of the scheduler
	"$KTPACK" run --kernel "$KERNEL" --cpus 1 --timeout 300 --require-config SCHED_CLASS_EXT=y \
		--include "$SCX_DIR/bin/scx_simple:/bin/scx_simple" --include scx.sh:/scx.sh \
		-- /bin/busybox sh /scx.sh > out 2> err || { cat err; exit 1; }
	printf "state enabled\nops simple\nafter disabled\n" > want
	cmp want out
	expect_grep "disabled by sysrq-S" err
'

test_done
