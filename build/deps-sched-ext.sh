#!/bin/sh
# A sched_ext kernel and real schedulers for it, into
# ${KTPACK_KERNEL_DIR:-/var/cache/ktpack}/sched_ext/.  Debian 12's kernels
# have no sched_ext, so the kernel comes from Debian's unstable suite, read
# through a sources list, package lists and an apt cache of this script's
# own (the machine's apt setup is never touched), and is unpacked, never
# installed.  The schedulers are the examples of the same kernel's source
# (tools/sched_ext), built with clang-19 against that kernel's BTF.
# Run by build/deps.sh (make deps) as root, once clang-19 is installed.
#
# Cached: a complete sched_ext/ (its versions file is written last, and the
# folder is renamed into place whole) is left alone without asking the
# network.  KTPACK_SCX_REFRESH=1 reads the suite's lists again and rebuilds
# when the newest kernel or its source is not the one recorded.
set -eu

KERNEL_DIR=${KTPACK_KERNEL_DIR:-/var/cache/ktpack}
DEST=$KERNEL_DIR/sched_ext
MIRROR=${KTPACK_SCX_MIRROR:-http://deb.debian.org/debian}
SUITE=${KTPACK_SCX_SUITE:-unstable}
CLANG=clang-19
# scx_qmap is left out: the BPF code clang 19 makes of it is rejected by
# the 7.2 verifier (qmap_dequeue: "R7 invalid mem access 'scalar'"); only
# a newer clang than Debian 12 has makes code it takes.
SCHEDS="scx_simple scx_central scx_flatcg"

cached() {
	[ -s "$DEST/versions" ] && [ -e "$DEST/vmlinuz" ] || return 1
	for s in $SCHEDS; do [ -x "$DEST/bin/$s" ] || return 1; done
}

if cached && [ -z "${KTPACK_SCX_REFRESH:-}" ]; then
	exit 0
fi

die() { echo "deps: sched_ext: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "no sched_ext kernel in $DEST (run 'make deps' as root)"

mkdir -p "$KERNEL_DIR"
# One run at a time: a second one waits, then finds the cache complete.
# Holding the lock, a staging folder left by a killed run is garbage, and
# a run killed between its two renames left the old tree aside.
exec 9> "$KERNEL_DIR/.sched_ext.lock"
flock 9
[ -e "$DEST" ] || [ ! -e "$DEST.old" ] || mv "$DEST.old" "$DEST"
if cached && [ -z "${KTPACK_SCX_REFRESH:-}" ]; then
	exit 0
fi
rm -rf "$KERNEL_DIR"/.sched_ext.tmp.* "$DEST.old"

tmp=$(mktemp -d "$KERNEL_DIR/.sched_ext.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
chmod 0755 "$tmp"

# apt-get and apt-cache on the private state (lists, cache, sources and
# pins: a host that pins unstable low must not hide its kernels; the
# host's apt.conf.d, a proxy say, still counts); apt drops to _apt to
# fetch, so what it writes into belongs to _apt.
A=$tmp/apt
mkdir -p "$A/parts" "$A/lists/partial" "$A/cache/archives/partial" "$tmp/dl"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" \
	> "$A/sources.list"
chown -R _apt "$A/lists" "$A/cache" "$tmp/dl" 2>/dev/null || true
papt() {
	cmd=$1
	shift
	"$cmd" -q -o "Dir::Etc::SourceList=$A/sources.list" -o "Dir::Etc::SourceParts=$A/parts" \
		-o "Dir::Etc::Preferences=$A/preferences" -o "Dir::Etc::PreferencesParts=$A/parts" \
		-o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" \
		-o APT::Architectures=amd64 -o Acquire::Languages=none "$@"
}
# download PKG...: the packages' .debs into $tmp/dl.
download() {
	(cd "$tmp/dl" && papt apt-get download "$@" > /dev/null) ||
		die "cannot download $* from Debian $SUITE"
}
deb_of() { ls "$tmp/dl/$1"_*.deb; }

echo "deps: sched_ext: reading Debian $SUITE's package lists"
papt apt-get update > /dev/null || die "cannot read Debian $SUITE's lists from $MIRROR"

# The amd64 kernel images, newest first; the -rt and -cloud flavours
# only after every plain one.
papt apt-cache pkgnames linux-image- | grep -E '^linux-image-[0-9][^ ]*-amd64$' |
	sort -rV > "$tmp/images" || true
{ grep -v -e '-rt-amd64$' -e '-cloud-amd64$' "$tmp/images" || true
  grep -e '-rt-amd64$' -e '-cloud-amd64$' "$tmp/images" || true; } > "$tmp/order"
[ -s "$tmp/order" ] || die "Debian $SUITE offers no amd64 kernel image (linux-image-*-amd64)"

version_of() { papt apt-cache show "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1; }
recorded() { sed -n "s/^$1 //p" "$DEST/versions" 2>/dev/null; }

if cached; then
	newest=$(head -n 1 "$tmp/order")
	mm=$(echo "${newest#linux-image-}" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
	if [ "$(recorded kernel)" = "$newest $(version_of "$newest")" ] &&
		[ "$(recorded source)" = "linux-source-$mm $(version_of "linux-source-$mm")" ]; then
		echo "deps: sched_ext: $newest is already there"
		exit 0
	fi
fi

# The packages of image PKG of release REL that hold its vmlinuz, config
# and modules: since Debian's 6.17 kernels the image is a meta-package
# that depends on linux-base-REL (config), linux-binary-REL (vmlinuz) and
# linux-modules-REL; before, the image held them all.
parts_of() {
	papt apt-cache depends "$1" | awk -v r="$2" '$1 == "Depends:" &&
		($2 == "linux-base-" r || $2 == "linux-binary-" r || $2 == "linux-modules-" r) { print $2 }'
}

# The first image whose config has CONFIG_SCHED_CLASS_EXT=y, unpacked
# into $tmp/root; its config is read before its modules are fetched.
tried=
pkg=
while read -r cand; do
	rel=${cand#linux-image-}
	rm -rf "$tmp/root" "$tmp/dl"/*.deb
	mkdir "$tmp/root"
	parts=$(parts_of "$cand" "$rel")
	base=$(echo "$parts" | grep '^linux-base-' || true)
	# shellcheck disable=SC2086
	(cd "$tmp/dl" && papt apt-get download "$cand" $base > /dev/null) || {
		tried="$tried $cand (not downloadable),"
		continue
	}
	for d in "$tmp/dl"/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
	config=
	for c in "$tmp/root/usr/lib/modules/$rel/config" "$tmp/root/boot/config-$rel"; do
		[ -s "$c" ] && config=$c && break
	done
	if [ -n "$config" ] && grep -qx 'CONFIG_SCHED_CLASS_EXT=y' "$config"; then
		pkg=$cand
		break
	fi
	if [ -n "$config" ]; then
		tried="$tried $cand (CONFIG_SCHED_CLASS_EXT not y),"
	else
		tried="$tried $cand (no config),"
	fi
done < "$tmp/order"
[ -n "$pkg" ] || die "no amd64 kernel of Debian $SUITE has CONFIG_SCHED_CLASS_EXT=y; tried:${tried%,}"
kver=$(dpkg-deb -f "$(deb_of "$pkg")" Version)

echo "deps: sched_ext: unpacking $pkg $kver"
rest=$(echo "$parts" | grep -v '^linux-base-' || true)
if [ -n "$rest" ]; then
	# shellcheck disable=SC2086
	download $rest
	for p in $rest; do dpkg-deb -x "$(deb_of "$p")" "$tmp/root"; done
fi
rm -f "$tmp/dl"/*.deb

# The tree as ktpack looks for it: vmlinuz-REL (vmlinuz links to it) with
# config-REL beside it, and the module tree in lib/modules/REL, indexed by
# depmod in the staging tree as deps.sh does for the default kernel.
out=$tmp/out
mkdir -p "$out/lib/modules" "$out/bin"
cp "$config" "$out/config-$rel"
for m in "$tmp/root/usr/lib/modules/$rel" "$tmp/root/lib/modules/$rel"; do
	[ -d "$m/kernel" ] && mv "$m" "$out/lib/modules/$rel" && break
done
[ -d "$out/lib/modules/$rel" ] || die "$pkg: no module tree for $rel"
for k in "$out/lib/modules/$rel/vmlinuz" "$tmp/root/boot/vmlinuz-$rel"; do
	[ -s "$k" ] && mv "$k" "$out/vmlinuz-$rel" && break
done
[ -s "$out/vmlinuz-$rel" ] || die "$pkg: no vmlinuz for $rel"
ln -s "vmlinuz-$rel" "$out/vmlinuz"
ln -s "config-$rel" "$out/config"
depmod -b "$out" "$rel"
rm -rf "$tmp/root"

# Of the source, only what tools/sched_ext builds from: the tools tree
# (libbpf, bpftool), the BPF disassembler bpftool shares with the kernel,
# the script that makes libbpf's helper definitions, and extract-vmlinux.
# The tarball is 1.8 GB unpacked, this is 100 MB.
mm=$(echo "$rel" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
src=linux-source-$mm
echo "deps: sched_ext: unpacking the schedulers' source from $src"
download "$src"
sver=$(dpkg-deb -f "$(deb_of "$src")" Version)
dpkg-deb --fsys-tarfile "$(deb_of "$src")" | tar -xO "./usr/src/$src.tar.xz" |
	tar -xJ -C "$tmp" "$src/tools" "$src/kernel/bpf/disasm.c" "$src/kernel/bpf/disasm.h" \
		"$src/scripts/bpf_doc.py" "$src/scripts/extract-vmlinux" ||
	die "cannot unpack tools/ from $src's tarball"
rm -f "$tmp/dl"/*.deb

# The schedulers are built against the BTF of the vmlinux inside the
# vmlinuz; without VMLINUX_BTF the build would take the build host's.
sh "$tmp/$src/scripts/extract-vmlinux" "$out/vmlinuz-$rel" > "$tmp/vmlinux" 2> "$tmp/extract.log" ||
	die "cannot extract the vmlinux of $pkg: $(tail -n 1 "$tmp/extract.log")"
readelf -S "$tmp/vmlinux" | grep -q ' \.BTF ' || die "the vmlinux of $pkg has no .BTF section"

echo "deps: sched_ext: building $SCHEDS with $CLANG"
# the outer make's flags (make deps runs under -r) are not the kernel's
# shellcheck disable=SC2086
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$tmp/$src/tools/sched_ext" -j"$(nproc)" \
	CLANG="$CLANG" VMLINUX_BTF="$tmp/vmlinux" $SCHEDS > "$tmp/build.log" 2>&1 || {
	tail -n 30 "$tmp/build.log" >&2
	die "building the schedulers of $src failed (above: the last lines of its log)"
}
for s in $SCHEDS; do
	cp "$tmp/$src/tools/sched_ext/build/bin/$s" "$out/bin/$s"
done

{
	echo "kernel $pkg $kver"
	echo "release $rel"
	echo "source $src $sver"
	echo "clang $($CLANG --version | head -n 1)"
	echo "schedulers $SCHEDS"
	echo "suite $SUITE"
	echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$out/versions"

# The old tree goes aside only for the two renames.
[ ! -e "$DEST" ] || mv "$DEST" "$DEST.old"
mv "$out" "$DEST"
rm -rf "$DEST.old"
echo "deps: sched_ext: $pkg and $SCHEDS in $DEST"
