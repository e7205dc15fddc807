#!/bin/sh
# ktpack kernel: the facts of the Debian kernel that `make deps` unpacks
# (KTSTR_KERNEL overrides), its config read independently here; run
# --require-config failing before boot, and passing to the boot.
. "$(dirname "$0")/lib.sh"
KERNEL=${KTSTR_KERNEL:-/var/cache/ktpack/vmlinuz}
REAL=$(readlink -f "$KERNEL")
REL=${REAL##*/vmlinuz-}
KCONFIG="$(dirname "$REAL")/config-$REL"
TRACING="CONFIG_SCHED_CLASS_EXT CONFIG_BPF_SYSCALL CONFIG_DEBUG_INFO_BTF CONFIG_FTRACE CONFIG_KPROBES CONFIG_VIRTIO_CONSOLE CONFIG_KVM_GUEST"
# (the vmlinux is extracted once, by the first case)
test_shared_cache

test_lazy_prereq KCONFIG 'test -r "$KCONFIG"'
test_lazy_prereq PYTHON 'command -v python3'
# Debian 6.1 has no sched_ext
test_lazy_prereq NO_SCHED_EXT 'not grep -q "^CONFIG_SCHED_CLASS_EXT=" "$KCONFIG"'

# A QEMU that writes its arguments to ./qemu-ran, answers the questions
# ktpack asks before a boot with the real one, and boots nothing.
fake_qemu() {
	cat > qemu <<EOF
#!/bin/sh
echo "\$*" >> "$PWD/qemu-ran"
case " \$* " in *" -kernel "*) exit 1 ;; esac
exec qemu-system-x86_64 "\$@"
EOF
	chmod +x qemu
}

test_expect_success KERNEL,KCONFIG 'kernel prints the facts of a kernel, one a line' '
	"$KTPACK" kernel "$KERNEL" > out
	{
		echo "kernel $KERNEL"
		echo "version $REL"
		echo "arch x86_64"
	} > want
	head -n 3 out > got
	cmp want got
	sed -n 4p out | grep -q "^format bzImage ([a-z0-9]*)\$"
	sed -n 5p out | grep -q "^boot \(vmlinux (PVH)\|bzImage\)\$"
	sed -n 6p out > got
	echo "config $KCONFIG" > want
	cmp want got
	# each value as the config has it
	for c in $TRACING; do
		v=$(sed -n "s/^$c=//p" "$KCONFIG" | tail -n 1)
		echo "$c ${v:-not set}"
	done > want
	tail -n +7 out > got
	cmp want got
	# KTSTR_KERNEL is the default, as for run
	KTSTR_KERNEL="$KERNEL" "$KTPACK" kernel > again
	cmp out again
'

test_expect_success KERNEL,KCONFIG,PYTHON 'kernel --json prints one object a parser reads' '
	"$KTPACK" kernel --json "$KERNEL" > out
	test "$(wc -l < out)" -eq 1
	KERNEL="$KERNEL" REL="$REL" KCONFIG="$KCONFIG" TRACING="$TRACING" python3 -c "
import json, os
d = json.load(open(\"out\"))
e = os.environ
assert d[\"kernel\"] == e[\"KERNEL\"], d
assert d[\"version\"] == e[\"REL\"], d
assert d[\"arch\"] == \"x86_64\" and d[\"format\"] == \"bzImage\", d
assert d[\"compression\"] in (\"gzip\", \"xz\", \"zstd\", \"lz4\", \"bzip2\", \"lzma\"), d
assert d[\"boot\"] == (\"vmlinux (PVH)\" if d[\"pvh\"] else \"bzImage\"), d
assert d[\"config\"] == e[\"KCONFIG\"], d
have = {}
for line in open(e[\"KCONFIG\"]):
    if line.startswith(\"CONFIG_\") and \"=\" in line:
        k, v = line.rstrip(\"\n\").split(\"=\", 1)
        have[k] = v
names = e[\"TRACING\"].split()
assert list(d[\"configs\"]) == names, d
for n in names:
    assert d[\"configs\"][n] == have.get(n, \"not set\"), (n, d)
"
'

test_expect_success KERNEL 'kernel without a config says where it looked; values are unknown' '
	cp "$KERNEL" vmlinuz
	"$KTPACK" kernel vmlinuz > out
	# (/boot is looked in when there is one)
	expect_grep "^config none: looked for .$PWD/config-$REL.\\(, ./boot/config-$REL.\\)\\? and the config embedded in .vmlinuz.\$" out
	for c in $TRACING; do echo "$c unknown"; done > want
	tail -n +7 out > got
	cmp want got
	# a name with control bytes reaches no terminal as they are
	esc=$(printf "k\033[2Jx")
	cp "$KERNEL" "$esc"
	"$KTPACK" kernel "$esc" > out
	expect_grep "^kernel k\\\\x1b\[2Jx\$" out
	not grep -q "$(printf "\033")" out
'

test_expect_success 'kernel: one error line for what is not a kernel, usage errors exit 2' '
	echo "not a kernel" > notk
	expect_exit 1 "$KTPACK" kernel notk > out 2> err
	expect_grep "^ktpack: .notk. is not a Linux kernel image (no bzImage header, no arm64 Image header, not ELF)\$" err
	test "$(wc -l < err)" -eq 1
	test ! -s out
	expect_exit 1 "$KTPACK" kernel "$PWD/none" 2> err
	expect_grep "^ktpack: cannot open kernel .$PWD/none.: No such file or directory\$" err
	expect_exit 2 "$KTPACK" kernel a b 2> err
	expect_grep "unexpected argument .b." err
	expect_exit 2 env -u KTSTR_KERNEL "$KTPACK" kernel 2> err
	expect_grep "no kernel given" err
'

test_expect_success KERNEL,KCONFIG,QEMU,NO_SCHED_EXT 'run --require-config a config the kernel lacks: 125 before boot, at once' '
	fake_qemu
	start=$(date +%s)
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --qemu "$PWD/qemu" \
		--require-config CONFIG_BPF_SYSCALL --require-config CONFIG_SCHED_CLASS_EXT -- /bin/true 2> err
	test $(($(date +%s) - start)) -le 10
	echo "ktpack: the kernel $REL has no CONFIG_SCHED_CLASS_EXT (not set in $KCONFIG); --require-config asked for it" > want
	cmp want err
	test ! -e qemu-ran || not grep -q -e "-kernel" qemu-ran
	# the prefix may be left out; =y asks for it built in
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --qemu "$PWD/qemu" \
		--require-config SCHED_CLASS_EXT=y -- /bin/true 2> err
	cmp want err
	test ! -e qemu-ran || not grep -q -e "-kernel" qemu-ran
'

test_expect_success KERNEL,QEMU 'run --require-config with no config to check it against fails before boot' '
	fake_qemu
	cp "$KERNEL" vmlinuz
	expect_exit 125 "$KTPACK" run --kernel vmlinuz --qemu "$PWD/qemu" \
		--require-config CONFIG_BPF -- /bin/true 2> err
	expect_grep "^ktpack: no config was found for the kernel $REL (looked for .$PWD/config-$REL.\\(, ./boot/config-$REL.\\)\\? and the config embedded in .vmlinuz.): --require-config CONFIG_BPF cannot be checked\$" err
	test "$(wc -l < err)" -eq 1
	test ! -e qemu-ran || not grep -q -e "-kernel" qemu-ran
'

test_expect_success KERNEL,KCONFIG,QEMU 'run --require-config a config the kernel has: the run goes on to the boot' '
	grep -q "^CONFIG_BPF_SYSCALL=y\$" "$KCONFIG"
	fake_qemu
	expect_exit 125 "$KTPACK" run --kernel "$KERNEL" --qemu "$PWD/qemu" --accel tcg \
		--require-config CONFIG_BPF_SYSCALL=y --require-config BPF_SYSCALL -- /bin/true 2> err
	grep -q -e "-kernel" qemu-ran
	not grep -q "require-config" err
'

test_expect_success 'run --require-config of another form is a usage error' '
	for spec in CONFIG_BPF=n CONFIG_bpf "CONFIG_BPF=y " CONFIG_ ""; do
		expect_exit 2 "$KTPACK" run --kernel /nonexistent --require-config "$spec" -- /bin/true 2> err
		expect_grep "^ktpack run: invalid --require-config: .$spec. is not a config requirement: expected CONFIG_NAME, CONFIG_NAME=y or CONFIG_NAME=m" err
	done
'

test_done
