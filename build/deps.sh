#!/bin/sh
# Installs the Debian packages that building, testing and benchmarking ktpack
# need.  Idempotent: when every package is already installed it does nothing,
# so it is cheap to run first on every machine (and in .ci/run).
set -eu

PKGS="make gcc clang pkg-config binutils
libelf-dev zlib1g-dev libzstd-dev liblzma-dev liblz4-dev libbz2-dev nettle-dev
busybox-static libcmocka-dev libclang-rt-14-dev scdoc man-db g++
cpio libarchive-tools gzip zstd xz-utils lz4 bzip2 python3
qemu-system-x86 hyperfine kmod bpftool clang-19"

# arm64 guests: the cross compiler builds their init, QEMU's arm
# system emulator boots them; the arm64 C library, zlib, libelf and
# libzstd (multiarch, beside the host's) are what arm64 programs (the
# tests' wprof-shaped fixture) are linked against and packed from.
ARM64_PKGS="qemu-system-arm gcc-aarch64-linux-gnu libc6:arm64 zlib1g-dev:arm64
libelf-dev:arm64 libzstd-dev:arm64"

# The Debian kernels the boot tests run (make check) are unpacked here,
# not installed: installing them would build a host initrd for nothing.
# Each module tree goes beside its kernel (lib/modules/<version>, with
# depmod's index), where ktpack looks for the modules of a kernel it
# boots, and so does its config (config-<version>), which ktpack gives
# the guest as /boot/config-<version>.  The arm64 kernel and Debian's arm64 busybox-static go in arm64/:
# busybox-static is not multiarch, and installing the arm64 one would
# replace the host's.  A sched_ext kernel (Debian 12's have none) and
# schedulers built for it go in sched_ext/ (build/deps-sched-ext.sh;
# clang-19 builds them).
KERNEL_DIR=${KTPACK_KERNEL_DIR:-/var/cache/ktpack}

# A name without ":arch" is this machine's package (or an arch "all"
# one); dpkg-query lists every installed architecture of a multiarch
# package, one line each, so the one that counts is picked out.
native=$(dpkg --print-architecture)
missing=
for p in $PKGS $ARM64_PKGS; do
	case $p in *:*) want=${p#*:} ;; *) want=$native ;; esac
	dpkg-query -W -f='${db:Status-Status} ${Architecture}\n' "$p" 2>/dev/null |
		grep -qx "installed \($want\|all\)" || missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages:$missing (run 'make deps' as root)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
chown _apt "$tmp" 2>/dev/null || true

# The package a Debian meta-package (linux-image-amd64) depends on.
dep_of() {
	pkg=$(apt-cache depends "$1" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -n 1)
	if [ -z "$pkg" ]; then
		apt-get update -q >&2
		pkg=$(apt-cache depends "$1" |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -n 1)
	fi
	[ -n "$pkg" ] || { echo "deps: no Debian package behind $1" >&2; exit 1; }
	echo "$pkg"
}

# unpack_kernel META ARCH DIR: vmlinuz, its config and the module tree of
# the kernel META points at, from its .deb, into DIR.
unpack_kernel() {
	dir=$3
	ver=
	[ -e "$dir/vmlinuz" ] && ver=$(basename "$(readlink "$dir/vmlinuz")" | sed 's/^vmlinuz-//')
	[ -e "$dir/vmlinuz" ] && [ -s "$dir/lib/modules/$ver/modules.dep" ] &&
		[ -s "$dir/config-$ver" ] && return 0
	pkg=$(dep_of "$1")
	echo "deps: unpacking $pkg:$2 into $dir"
	rm -rf "$tmp/k" && mkdir -p "$tmp/k" && chown _apt "$tmp/k" 2>/dev/null || true
	(cd "$tmp/k" && apt-get download -q "$pkg:$2")
	mkdir -p "$dir/lib/modules"
	dpkg-deb --fsys-tarfile "$tmp"/k/*.deb |
		tar -x -C "$tmp/k" --wildcards './boot/vmlinuz-*' './boot/config-*' './lib/modules/*'
	ver=$(basename "$(ls "$tmp"/k/boot/vmlinuz-* | head -n 1)" | sed 's/^vmlinuz-//')
	# the index first, in the staging tree: a tree without it is not taken
	depmod -b "$tmp/k" "$ver"
	rm -rf "$dir/lib/modules/$ver.old"
	[ ! -e "$dir/lib/modules/$ver" ] || mv "$dir/lib/modules/$ver" "$dir/lib/modules/$ver.old"
	mv "$tmp/k/lib/modules/$ver" "$dir/lib/modules/$ver"
	rm -rf "$dir/lib/modules/$ver.old"
	mv -f "$tmp"/k/boot/config-* "$dir/"
	mv -f "$tmp"/k/boot/vmlinuz-* "$dir/"
	ln -sf "vmlinuz-$ver" "$dir/vmlinuz.tmp"
	mv -f "$dir/vmlinuz.tmp" "$dir/vmlinuz"
}

unpack_kernel linux-image-amd64 amd64 "$KERNEL_DIR"
unpack_kernel linux-image-arm64:arm64 arm64 "$KERNEL_DIR/arm64"

# Debian's arm64 busybox-static: the default BUSYBOX_ARM64 of the build.
if [ ! -s "$KERNEL_DIR/arm64/busybox" ]; then
	echo "deps: unpacking busybox-static:arm64 into $KERNEL_DIR/arm64"
	rm -rf "$tmp/b" && mkdir -p "$tmp/b" && chown _apt "$tmp/b" 2>/dev/null || true
	(cd "$tmp/b" && apt-get download -q busybox-static:arm64)
	dpkg-deb --fsys-tarfile "$tmp"/b/*.deb | tar -x -C "$tmp/b" ./bin/busybox
	mkdir -p "$KERNEL_DIR/arm64"
	mv -f "$tmp/b/bin/busybox" "$KERNEL_DIR/arm64/busybox.tmp"
	mv -f "$KERNEL_DIR/arm64/busybox.tmp" "$KERNEL_DIR/arm64/busybox"
fi

"$(dirname "$0")/deps-sched-ext.sh"
