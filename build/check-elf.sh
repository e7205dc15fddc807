#!/bin/sh
# Refuses a blob that is not an ELF program for the machine the build
# targets: the same class and machine as an object the compiler made (or
# 64-bit ARCH, x86_64 or aarch64, for another architecture's slot), and
# an executable or a PIE with an entry point.  Says why, naming the make
# variable.
#   check-elf.sh PROBE.o FILE VAR [ARCH]
set -eu
probe=$1 file=$2 var=$3 arch=${4:-}
field() { LC_ALL=C readelf -h "$2" 2> /dev/null | sed -n "s/^ *$1: *//p"; }
if ! LC_ALL=C readelf -h "$file" > /dev/null 2>&1; then
	echo "$var=$file: not an ELF file" >&2
	exit 1
fi
for f in Class Machine; do
	case $f:$arch in
	Class:?*) want=ELF64 ;;
	Machine:aarch64) want=AArch64 ;;
	Machine:x86_64) want="Advanced Micro Devices X86-64" ;;
	Machine:?*) echo "$var: unknown architecture '$arch'" >&2; exit 1 ;;
	*) want=$(field "$f" "$probe") ;;
	esac
	got=$(field "$f" "$file")
	if [ "$want" != "$got" ]; then
		echo "$var=$file: an ELF file for $got, not $want" >&2
		exit 1
	fi
done
case $(field Type "$file") in
EXEC*|DYN*) ;;
*) echo "$var=$file: not an executable ELF file ($(field Type "$file"))" >&2; exit 1 ;;
esac
# A shared library has no entry point (libc.so.6, which runs, has one).
case $(field "Entry point address" "$file") in
0x0|0)
	echo "$var=$file: a shared library (no entry point), not a program" >&2
	exit 1
	;;
esac
