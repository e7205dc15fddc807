# The blob manifest: every helper binary that ktpack carries.
#
# One row per blob: NAME_SRC the file, NAME_ENV the variable install_env
# exports ("-": a guest-only blob), NAME_VAR the make variable that names
# the source file, NAME_CLOSURE the guest path of a program whose
# libraries come along (the slot NAME_libs; build/ktpack-embed.mk).  No
# source gives an empty slot (size 0): the binary builds and says "not
# embedded".
#
#   make WPROF=/path/to/wprof      embeds a wprof built elsewhere
#   cp /path/to/wprof blobs/wprof  does the same for every later build
#
# A build on another machine than aarch64 also carries arm64 slots, for
# arm64 guests (the README, "arm64 guests"): WPROF_ARM64, BUSYBOX_ARM64
# and the guest init cross-built (CROSS_CC_ARM64); empty without them.

BLOBS := busybox wprof
# Blobs of the library itself (libktpack.a): a front end that links it
# gets a bootable guest without embedding anything.
LIB_BLOBS := init
KT_BUILD_ARCH := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine 2>/dev/null)))
ifneq ($(KT_BUILD_ARCH),aarch64)
BLOBS += busybox_arm64 wprof_arm64
LIB_BLOBS += init_arm64
endif
# Where `make deps` unpacks Debian's arm64 kernel and busybox.
KTPACK_KERNEL_DIR ?= /var/cache/ktpack

busybox_ENV := KTSTR_BUSYBOX_PATH
busybox_VAR := BUSYBOX
busybox_ELF := 1
# Debian's busybox-static installs its binary here.
BUSYBOX ?= $(wildcard /bin/busybox)
busybox_SRC = $(BUSYBOX)

wprof_ENV := KTSTR_WPROF_PATH
wprof_VAR := WPROF
wprof_ELF := 1
WPROF ?= $(wildcard blobs/wprof)
wprof_SRC = $(WPROF)
# wprof's interpreter and libraries as the build machine has them, the
# guest-only slot wprof_libs, so a runner without them still gets a
# working wprof.
wprof_CLOSURE := /bin/wprof

# The guest's /init, built here from src/guest/init.c (static).  It is an
# archive input, never installed or exported as a host program.
init_ENV := -
init_VAR := INIT
INIT ?= $(OUT)/guest/init
init_SRC = $(INIT)
init_GENERATED = $(filter $(OUT)/%,$(INIT))

# The arm64 slots: the same blobs for an arm64 guest.
busybox_arm64_NAME := busybox
busybox_arm64_ARCH := aarch64
busybox_arm64_ENV := -
busybox_arm64_VAR := BUSYBOX_ARM64
busybox_arm64_ELF := 1
# Debian's busybox-static:arm64, as `make deps` unpacks it (installing
# it would replace the host's busybox).
BUSYBOX_ARM64 ?= $(wildcard $(KTPACK_KERNEL_DIR)/arm64/busybox)
busybox_arm64_SRC = $(BUSYBOX_ARM64)

wprof_arm64_NAME := wprof
wprof_arm64_ARCH := aarch64
wprof_arm64_ENV := -
wprof_arm64_VAR := WPROF_ARM64
wprof_arm64_ELF := 1
WPROF_ARM64 ?= $(wildcard blobs/wprof_arm64)
wprof_arm64_SRC = $(WPROF_ARM64)
wprof_arm64_CLOSURE := /bin/wprof

# The arm64 init, cross-built static with Debian's cross compiler and the
# arm64 zlib (zlib1g-dev:arm64): `make deps` installs both.
CROSS_CC_ARM64 ?= $(shell command -v aarch64-linux-gnu-gcc 2>/dev/null)
init_arm64_NAME := init
init_arm64_ARCH := aarch64
init_arm64_ENV := -
init_arm64_VAR := INIT_ARM64
INIT_ARM64 ?= $(if $(CROSS_CC_ARM64),$(if $(wildcard /usr/lib/aarch64-linux-gnu/libz.a),$(OUT)/guest-arm64/init))
init_arm64_SRC = $(INIT_ARM64)
init_arm64_GENERATED = $(filter $(OUT)/%,$(INIT_ARM64))
