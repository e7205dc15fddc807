# The blob manifest: every helper binary that ktpack carries.
#
# One row per blob: NAME_SRC the file, NAME_ENV the variable install_env
# exports, NAME_VAR the make variable that names the source file.  No
# source gives an empty slot (size 0): the binary builds and says "not
# embedded".
#
#   make WPROF=/path/to/wprof      embeds a wprof built elsewhere
#   cp /path/to/wprof blobs/wprof  does the same for every later build

BLOBS := busybox wprof wprof_libs
# Blobs of the library itself (libktpack.a): a front end that links it
# gets a bootable guest without embedding anything.
LIB_BLOBS := init

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

# wprof's interpreter and libraries as the build machine has them (a newc
# archive made by build/closure.c with ktpack's resolver), so a runner
# without them still gets a working wprof.  Guest only: never installed.
wprof_libs_ENV := -
wprof_libs_VAR := WPROF
wprof_libs_SRC = $(if $(WPROF),$(OUT)/gen/wprof-libs.cpio)
wprof_libs_GENERATED = 1

# The guest's /init, built here from src/guest/init.c (static).  It is an
# archive input, never installed or exported as a host program.
init_ENV := -
init_VAR := INIT
INIT ?= $(OUT)/guest/init
init_SRC = $(INIT)
init_GENERATED = $(filter $(OUT)/%,$(INIT))
