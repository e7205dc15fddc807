# ktpack: the one build entry.
#
#   make deps      install the Debian packages the build and tests need,
#                  and unpack the test kernels (a sched_ext one, with schedulers)
#   make           build out/ktpack (embeds busybox, and wprof if present)
#   make check     unit tests (plain and ASan/UBSan) and CLI tests
#   make bench     figures as ratios against baselines from the same run
#   make demo      boot the kernel make deps unpacked and show a run
#   make fuzz      run the fuzz targets for a while
#   make install   PREFIX=/usr/local DESTDIR= (BINDIR, LIBDIR, LIBEXECDIR...)
#
# OUT=dir builds into another folder (the tests build variants this way),
# STATIC=1 links ktpack fully static, WPROF=/BUSYBOX= pick the blobs.  Those
# switches are remembered in OUT: a later `make install` builds what `make
# STATIC=1 WPROF=...` built, until they are given again.

MAKEFLAGS += -r
OUT ?= out

# OUT holds only what make builds: never the sources (build/check-out.sh).
# Recipes use OUT unquoted, and make splits names at blanks: OUT holds
# only characters that neither make nor the shell reads.
ifneq ($(words $(OUT)),1)
$(error OUT='$(OUT)': a folder name without blanks, please)
endif
ifneq ($(shell printf '%s' '$(subst ','\'',$(OUT))' | tr -d 'A-Za-z0-9_./+@-'),)
$(error OUT=$(OUT): letters, digits and _ . / + @ - only)
endif
KT_SRC_DIRS := .git blobs build src include tests doc examples bench completion .ci
KT_OUT_BAD := $(shell build/check-out.sh '$(subst ','\'',$(OUT))' $(KT_SRC_DIRS))
ifneq ($(KT_OUT_BAD),)
$(error OUT=$(OUT): $(KT_OUT_BAD); OUT holds only what make builds)
endif
# Switches given on the command line are saved; the others come back.
KT_SWITCHES := STATIC SAN WPROF BUSYBOX WPROF_ARM64 BUSYBOX_ARM64
-include $(OUT)/gen/switches.mk
$(foreach v,$(KT_SWITCHES),$(if $(filter command line,$(origin $(v))),,\
	$(if $(filter-out undefined,$(origin KT_SAVED_$(v))),$(eval $(v) := $(KT_SAVED_$(v))))))
CC ?= cc
PKG_CONFIG ?= pkg-config
OBJCOPY ?= objcopy
OBJDUMP ?= objdump
AR ?= ar
# GNU install folders; DESTDIR stages them.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
SCDOC ?= scdoc
# The version lives in the public header, which front ends compile against.
VERSION := $(shell sed -n 's/^\#define KTPACK_VERSION[[:space:]]*"\(.*\)"/\1/p' include/ktpack/ktpack.h)

include blobs/blobs.mk

CFLAGS ?= -O2 -g
PKGS := libelf zlib libzstd liblzma liblz4 nettle
# What every C file of ktpack is compiled with: the library, the CLI, the
# guest init, the tests, the fuzzers; -MMD -MP keeps header dependencies.
KT_BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude -Isrc -MMD -MP
KT_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# pkg-config runs when a recipe first needs it, never for `make deps` on a
# machine that has no libraries yet.
kt_once = $(eval $(1) := $(2))$($(1))
KT_PKG_CFLAGS = $(call kt_once,KT_PKG_CFLAGS,$(shell $(PKG_CONFIG) --cflags $(PKGS)))
# libbz2 has no pkg-config file.
LIBS = $(call kt_once,LIBS,$(shell $(PKG_CONFIG) $(if $(STATIC),--static) --libs $(PKGS)) -lbz2)
KT_CFLAGS = $(KT_BASE_CFLAGS) $(KT_WARN) $(KT_PKG_CFLAGS) $(KT_SAN_CFLAGS)
KT_LDFLAGS = $(if $(STATIC),-static) $(KT_SAN_LDFLAGS)

ifneq ($(SAN),)
KT_SAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
KT_SAN_LDFLAGS := -fsanitize=address,undefined
endif

LIB_SRCS := src/util.c src/arch.c src/blob.c src/cache.c src/extract.c src/wprof.c src/vmconfig.c \
	src/elfinfo.c src/ldcache.c src/elfdeps.c src/cpio.c src/initramfs.c src/kernel.c src/kconfig.c \
	src/channel.c src/modules.c src/workdir.c src/proc.c src/qemu.c src/accel.c src/vm.c src/run.c \
	src/host.c src/outq.c src/collect.c
CLI_SRCS := src/cli/ktpack.c src/cli/parse.c src/cli/cmd-blobs.c src/cli/cmd-env.c \
	src/cli/cmd-cmdline.c src/cli/cmd-ldd.c src/cli/cmd-initramfs.c src/cli/cmd-run.c src/cli/cmd-doctor.c \
	src/cli/cmd-kernel.c
LIB_OBJS := $(LIB_SRCS:src/%.c=$(OUT)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:src/%.c=$(OUT)/obj/%.o)

all: $(OUT)/ktpack

# The guest init: static, with only what it needs of the library, stripped
# and with the checkout's path mapped away, so that its digest (and the
# archives that hold it) do not depend on where the sources are.
GUEST_SRCS := src/guest/init.c src/util.c src/wprof.c src/channel.c src/outq.c src/collect.c
GUEST_OBJS := $(GUEST_SRCS:src/%.c=$(OUT)/guest/obj/%.o)
$(OUT)/guest/obj/%.o: src/%.c $(OUT)/gen/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_BASE_CFLAGS) -Wall -Wextra -Werror \
		'-ffile-prefix-map=$(call kt_shq,$(CURDIR))=.' -c -o $@ $<
$(OUT)/guest/init: $(GUEST_OBJS)
	$(CC) -static -s -o $@.tmp $(GUEST_OBJS) -lz
	mv -f $@.tmp $@

# The same init for arm64 guests, with the cross compiler (blobs/blobs.mk).
GUEST_ARM64_OBJS := $(GUEST_SRCS:src/%.c=$(OUT)/guest-arm64/obj/%.o)
$(OUT)/guest-arm64/obj/%.o: src/%.c $(OUT)/gen/flags
	@mkdir -p $(@D)
	$(CROSS_CC_ARM64) $(CFLAGS) $(KT_BASE_CFLAGS) -Wall -Wextra -Werror \
		'-ffile-prefix-map=$(call kt_shq,$(CURDIR))=.' -c -o $@ $<
$(OUT)/guest-arm64/init: $(GUEST_ARM64_OBJS)
	$(CROSS_CC_ARM64) -static -s -o $@.tmp $(GUEST_ARM64_OBJS) -lz
	mv -f $@.tmp $@

# The blobs, with the fragment front ends use too: ktpack's own
# (busybox, wprof and its closure) for the CLI, the guest init for the
# library.  The closure tool is the one installed for front ends, built
# here from the library first.
KT_EMBED_CFLAGS = $(CFLAGS) $(KT_CFLAGS)
KT_CLOSURE := $(OUT)/build/ktpack-closure
include build/ktpack-embed.mk
$(eval $(call kt_embed,$(OUT)/blobs,kt_embedded_blobs,$(BLOBS)))
$(eval $(call kt_embed,$(OUT)/libblobs,kt_guest_blobs,$(LIB_BLOBS)))
$(OUT)/blobs/kt_embedded_blobs.o $(OUT)/libblobs/kt_guest_blobs.o: $(OUT)/gen/flags

# The closure tool (<name>_CLOSURE in ktpack-embed.mk), from the library.
$(KT_CLOSURE): build/closure.c $(OUT)/libktpack.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) -o $@ $< $(OUT)/libktpack.a $(LIBS)

# Rebuild everything when the flags change; remember the switches.
$(OUT)/gen/flags: FORCE
	@mkdir -p $(@D) && touch $(OUT)/.ktpack-out
	@build/update-if-changed.sh $@ '$(CC) $(CFLAGS) $(KT_CFLAGS) $(KT_LDFLAGS) $(LIBS)'
	@printf '%s\n' '# switches given to make for $(OUT), kept for later runs' \
		$(foreach v,$(KT_SWITCHES),$(if $(filter command line,$(origin $(v)))$(filter-out undefined,$(origin KT_SAVED_$(v))),\
		'KT_SAVED_$(v) := $(call kt_shq,$($(v)))')) > $(OUT)/gen/switches.tmp
	@cmp -s $(OUT)/gen/switches.tmp $(OUT)/gen/switches.mk || \
		mv -f $(OUT)/gen/switches.tmp $(OUT)/gen/switches.mk
	@rm -f $(OUT)/gen/switches.tmp
# A value inside single quotes for the shell.
kt_shq = $(subst ','\'',$(1))

$(OUT)/obj/%.o: src/%.c $(OUT)/gen/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) -c -o $@ $<

$(OUT)/libktpack.a: $(LIB_OBJS) $(kt_guest_blobs_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(OUT)/ktpack: $(CLI_OBJS) $(kt_embedded_blobs_OBJS) $(OUT)/libktpack.a
	$(CC) $(CFLAGS) $(KT_LDFLAGS) $(LDFLAGS) -o $@.tmp \
		$(CLI_OBJS) $(kt_embedded_blobs_OBJS) $(OUT)/libktpack.a $(LIBS)
	mv -f $@.tmp $@

-include $(wildcard $(OUT)/obj/*.d $(OUT)/obj/cli/*.d $(OUT)/tests/*.d $(OUT)/build/*.d \
	$(OUT)/guest/obj/*.d $(OUT)/guest/obj/guest/*.d $(OUT)/guest-arm64/obj/*.d \
	$(OUT)/guest-arm64/obj/guest/*.d $(OUT)/blobs/*.d $(OUT)/libblobs/*.d \
	$(OUT)/fuzz/*.d)

deps:
	build/deps.sh

# make demo: boots the kernel `make deps` unpacked (KERNEL=...) and shows
# a run: stdin in, stdout and stderr out apart, a module, the status.
demo: $(OUT)/ktpack
	build/demo.sh $(OUT)/ktpack $(KERNEL)

# Man pages from their scdoc sources.
MANPAGES := $(OUT)/man/ktpack.1 $(OUT)/man/libktpack.3
$(OUT)/man/%: doc/%.scd
	@mkdir -p $(@D)
	$(SCDOC) < $< > $@.tmp
	mv -f $@.tmp $@
man: $(MANPAGES)

# A value for the replacement side of sed's s|||, as a shell word.
kt_sed = $(subst ','\'',$(subst |,\|,$(subst &,\&,$(subst \,\\,$(1)))))
# A folder under PREFIX as ${prefix}/...: a staged tree (DESTDIR) read
# through PKG_CONFIG_SYSROOT_DIR, or a pc file edited for a moved tree,
# stays right.
kt_pc_dir = $(call kt_sed,$(patsubst $(PREFIX)/%,$${prefix}/%,$(1)))
$(OUT)/libktpack.pc: build/libktpack.pc.in include/ktpack/ktpack.h FORCE
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(call kt_sed,$(PREFIX))|' -e 's|@LIBDIR@|$(call kt_pc_dir,$(LIBDIR))|' \
		-e 's|@INCLUDEDIR@|$(call kt_pc_dir,$(INCLUDEDIR))|' \
		-e 's|@DATADIR@|$(call kt_pc_dir,$(DATADIR))|' \
		-e 's|@LIBEXECDIR@|$(call kt_pc_dir,$(LIBEXECDIR))|' \
		-e 's|@VERSION@|$(VERSION)|' $< > $@.tmp
	mv -f $@.tmp $@

PUBLIC_HEADERS := $(wildcard include/ktpack/*.h)

install: $(OUT)/ktpack $(OUT)/libktpack.a $(KT_CLOSURE) $(OUT)/libktpack.pc $(MANPAGES)
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)/ktpack" \
		"$(DESTDIR)$(PKGCONFIGDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man3" \
		"$(DESTDIR)$(DATADIR)/ktpack" "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(LIBEXECDIR)/ktpack"
	install -m 0755 $(OUT)/ktpack "$(DESTDIR)$(BINDIR)/ktpack"
	install -m 0755 $(KT_CLOSURE) "$(DESTDIR)$(LIBEXECDIR)/ktpack/ktpack-closure"
	install -m 0644 $(OUT)/libktpack.a "$(DESTDIR)$(LIBDIR)/libktpack.a"
	install -m 0644 $(PUBLIC_HEADERS) "$(DESTDIR)$(INCLUDEDIR)/ktpack/"
	install -m 0644 $(OUT)/libktpack.pc "$(DESTDIR)$(PKGCONFIGDIR)/libktpack.pc"
	install -m 0644 $(OUT)/man/ktpack.1 "$(DESTDIR)$(MANDIR)/man1/ktpack.1"
	install -m 0644 $(OUT)/man/libktpack.3 "$(DESTDIR)$(MANDIR)/man3/libktpack.3"
	install -m 0644 build/ktpack-embed.mk build/probe.c "$(DESTDIR)$(DATADIR)/ktpack/"
	install -m 0755 build/gen-blobtab.sh build/update-if-changed.sh build/check-elf.sh \
		"$(DESTDIR)$(DATADIR)/ktpack/"
	install -m 0644 completion/ktpack.bash "$(DESTDIR)$(BASHCOMPDIR)/ktpack"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/ktpack" "$(DESTDIR)$(LIBDIR)/libktpack.a" \
		"$(DESTDIR)$(PKGCONFIGDIR)/libktpack.pc" "$(DESTDIR)$(MANDIR)/man1/ktpack.1" \
		"$(DESTDIR)$(MANDIR)/man3/libktpack.3" "$(DESTDIR)$(BASHCOMPDIR)/ktpack"
	rm -rf "$(DESTDIR)$(INCLUDEDIR)/ktpack" "$(DESTDIR)$(DATADIR)/ktpack" \
		"$(DESTDIR)$(LIBEXECDIR)/ktpack"

# Only what the build makes, in a folder a build marked as its own, then
# OUT if that left it empty: a mistyped OUT loses nothing.
KT_BUILT := obj gen blobs libblobs guest guest-arm64 build tests fuzz man asan clang static \
	fixture bench ktpack libktpack.a libktpack.pc .ktpack-out
clean:
	@if [ -d $(OUT) ] && [ ! -e $(OUT)/.ktpack-out ] && [ -n "$$(ls -A $(OUT))" ]; then \
		echo "make clean: OUT=$(OUT) holds no build of ktpack (no .ktpack-out): nothing removed" >&2; \
		exit 1; fi
	rm -rf -- $(addprefix $(OUT)/,$(KT_BUILT))
	rmdir -- $(OUT) 2>/dev/null || :

include tests/tests.mk
include tests/fuzz/fuzz.mk
include bench/bench.mk

FORCE:
.PHONY: all deps demo install uninstall clean man FORCE
.DELETE_ON_ERROR:
