# ktpack-embed.mk - embeds files into a program as linker blobs made with
# objcopy, with the table that libktpack reads (struct kt_blob_table).
# ktpack's own build uses it; it is installed for front ends, found with
# `pkg-config --variable=embedmk libktpack`.
#
#   wprof_SRC := /path/to/wprof        # empty: an empty slot (size 0)
#   wprof_ENV := KTSTR_WPROF_PATH      # what kt_install_env() exports; "-":
#                                      # nothing (a guest-only blob)
#   wprof_CLOSURE := /bin/wprof        # also embed its libraries (below)
#   wprof_VAR := WPROF                 # the make variable to name in messages
#   wprof_ELF := 1                     # must be an ELF program for this machine
#   wprof_GENERATED := 1               # make builds the source (a rule of yours)
#   wprof_arm64_NAME := wprof          # the table's name for it (default: its own)
#   wprof_arm64_ARCH := aarch64        # its slot's architecture (default: the build's)
#   include $(shell pkg-config --variable=embedmk libktpack)
#   $(eval $(call kt_embed,out/embed,kt_embedded_blobs,wprof busybox))
#   prog: main.o $(kt_embedded_blobs_OBJS)
#
# kt_embed,DIR,SYMBOL,NAMES makes DIR/<name>.o for each blob and DIR/SYMBOL.o
# for the table named SYMBOL (kt_embedded_blobs is what kt_run and the
# ktpack CLI read), listed in $(SYMBOL_OBJS).  KT_EMBED_CFLAGS must let
# $(CC) find <ktpack/blob.h> (pkg-config --cflags libktpack).
#
# <name>_ENV := - makes a guest-only blob: kt_run() and
# kt_initramfs__add_blob() pack it into guest archives, kt_install_env()
# never installs it nor exports a variable for it.
#
# <name>_CLOSURE := GUEST-PATH embeds, beside the ELF program <name>, its
# closure: the interpreter and libraries this machine resolves for it
# when it runs at GUEST-PATH, a newc archive made by ktpack-closure
# ($(KT_CLOSURE); default: pkg-config --variable=closure libktpack).  It becomes the guest-only slot <name>_libs (in the table,
# <its name>_libs, of its architecture), which kt_run() and
# kt_initramfs__add_blob() pack with the program: a runner without the
# program's libraries still runs it.  A static program has an empty
# closure (an empty slot).  It is made again on every build, since new
# libraries (a libc upgrade) change it under the same program, and
# replaced only when its bytes changed.
#
# objcopy -I binary names its symbols after the input path, so it runs from
# the folder that holds the blob under its own name: the symbols are
# _binary_<name>_start/_end whatever the source path was.  The _size symbol
# is stripped: it is an absolute symbol, which PIE does not relocate, so
# its "address" is not the size in a PIE (the table uses end - start).

KT_EMBED_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
# Including this file must not change the including Makefile's default goal.
kt_embed_goal := $(.DEFAULT_GOAL)
KT_OBJCOPY ?= objcopy
KT_OBJDUMP ?= objdump
KT_EMBED_CFLAGS ?=
PKG_CONFIG ?= pkg-config
# Asked once, and only when a <name>_CLOSURE needs it.
KT_CLOSURE ?= $(eval KT_CLOSURE := $(shell $(PKG_CONFIG) --variable=closure libktpack))$(KT_CLOSURE)

# A value inside single quotes for the shell.
kt_embed_q = '$(subst ','\'',$(1))'

# A blob whose source is set but missing is a typo, not an empty slot.
# <name>_GENERATED marks a source that make itself builds.  A name becomes
# C symbols: letters, digits and '_' only.  (The source's name may hold
# blanks and quotes: it is only ever used quoted, never as a make target;
# not '#' or '$$', which make itself would read.)  Goals that build nothing
# (clean, deps, uninstall) check nothing.
KT_EMBED_NOCHECK := clean deps uninstall
kt_embed_hash := \#
kt_embed_check = $(if $(MAKECMDGOALS),$(if $(filter-out $(KT_EMBED_NOCHECK),$(MAKECMDGOALS)),\
	$(call kt_embed_check1,$(1))),$(call kt_embed_check1,$(1)))
kt_embed_check1 = $(if $(shell printf '%s' '$(1)' | tr -d 'A-Za-z0-9_'),\
	$(error blob name '$(1)': only letters, digits and '_' make a C symbol))\
	$(if $(findstring $$,$($(1)_SRC))$(findstring $(kt_embed_hash),$($(1)_SRC)),\
	$(error $(or $($(1)_VAR),$(1))=$($(1)_SRC): a path with '#' or '$$' cannot be embedded))\
	$(if $($(1)_SRC),$(if $($(1)_GENERATED)$(shell test -e $(call kt_embed_q,$($(1)_SRC)) && echo y),,\
	$(error $(or $($(1)_VAR),$(1))=$($(1)_SRC): no such file)))\
	$(if $($(1)_CLOSURE),$(if $(filter /%,$($(1)_CLOSURE)),,\
	$(error $(1)_CLOSURE=$($(1)_CLOSURE): the guest path must be absolute))\
	$(if $($(1)_SRC),$(if $(KT_CLOSURE),,\
	$(error $(1)_CLOSURE: no ktpack-closure (pkg-config --variable=closure libktpack): set KT_CLOSURE))))

# NAMES, each <name> with a <name>_CLOSURE followed by <name>_libs.
kt_embed_names = $(foreach b,$(1),$(b) $(if $($(b)_CLOSURE),$(b)_libs))

# The slot <name>_libs of <name>_CLOSURE, in DIR: guest-only, named and
# placed as <name> is, empty when <name> is.
define kt_embed_closure_vars
$(if $(filter-out undefined,$(origin $(2)_libs_SRC)),\
	$(error $(2)_CLOSURE makes the slot $(2)_libs: $(2)_libs_SRC cannot be set too))
$(2)_libs_SRC = $$(if $$($(2)_SRC),$(1)/$(2)_libs.cpio)
$(2)_libs_GENERATED := 1
$(2)_libs_ENV := -
$(2)_libs_VAR = $$(or $$($(2)_VAR),$(2))
$(2)_libs_NAME = $$(or $$($(2)_NAME),$(2))_libs
$(2)_libs_ARCH = $$($(2)_ARCH)
endef

# After the program's checks (its link), ktpack-closure writes the
# archive under a temporary name; a new one replaces the old only when
# its bytes differ, so an unchanged closure rebuilds nothing.
define kt_embed_closure
$(1)/$(2)_libs.cpio: $(KT_CLOSURE) $(1)/$(2) FORCE
	@mkdir -p $$(@D)
	@$(call kt_embed_q,$(KT_CLOSURE)) $$@.new $(call kt_embed_q,$($(2)_SRC)) \
		$(call kt_embed_q,$($(2)_CLOSURE))
	@cmp -s $$@.new $$@ && rm -f $$@.new || mv -f $$@.new $$@
endef

define kt_embed_blob
# The stamp holds the source's name and its content's digest: a new file,
# a symlink pointed elsewhere, or new bytes under an old mtime (cp -p, tar,
# rsync) all rebuild.
$(1)/$(2).src: FORCE $(if $($(2)_GENERATED),$($(2)_SRC))
	@mkdir -p $$(@D)
	@$(KT_EMBED_DIR)/update-if-changed.sh $$@ \
		"$(if $($(2)_SRC),$$$$(readlink -f $(call kt_embed_q,$($(2)_SRC))) $$$$(sha256sum < $(call kt_embed_q,$($(2)_SRC))))"

# A link to the source, not a copy: a big blob is in the build once, in
# its object.  An ELF blob (<name>_ELF) must be one for this machine, or
# for its slot's architecture (<name>_ARCH).
$(1)/$(2): $(1)/$(2).src $(if $($(2)_ELF),$(1)/objfmt)
	@mkdir -p $$(@D)
	$(if $($(2)_SRC),$(if $($(2)_ELF),$(KT_EMBED_DIR)/check-elf.sh $(1)/probe.o \
		$(call kt_embed_q,$($(2)_SRC)) $(or $($(2)_VAR),$(2)) $($(2)_ARCH) &&) \
		ln -sfn "$$$$(readlink -f $(call kt_embed_q,$($(2)_SRC)))" $$@.tmp,: > $$@.tmp)
	mv -Tf $$@.tmp $$@

# .rodata.<name>: read-only data.  The alignment is set on objcopy's *input*
# section name (.data), and 4096 keeps the blob's file offset page-aligned,
# which lets copy_file_range reflink it.  The empty .note.GNU-stack tells
# the linker this object needs no executable stack.
# The stamp, not the link (make reads a link's target's mtime), says when.
# A generated source may come out empty (a static program has no
# closure): that is an empty slot, and objcopy refuses empty input.
$(1)/$(2).o: $(1)/$(2) $(1)/$(2).src $(1)/objfmt
	cd $(1) && if test -s $(2); then $(KT_OBJCOPY) -I binary \
		-O "$$$$(sed -n 1p objfmt)" -B "$$$$(sed -n 2p objfmt)" \
		--rename-section .data=.rodata.$(2),alloc,load,readonly,data,contents \
		--set-section-alignment .data=4096 \
		--add-section .note.GNU-stack=/dev/null \
		--set-section-flags .note.GNU-stack=contents,readonly \
		--strip-symbol _binary_$(2)_size \
		$(2) $(2).o.tmp; \
	else : | $$(CC) -x c -c -o $(2).o.tmp -; fi
	mv -f $$@.tmp $$@
endef

define kt_embed
$(foreach b,$(3),$(if $($(b)_CLOSURE),$(eval $(call kt_embed_closure_vars,$(1),$(b)))))
$(foreach b,$(call kt_embed_names,$(3)),$(call kt_embed_check,$(b)))
$(eval kt_embed_goal := $(.DEFAULT_GOAL))
$(2)_OBJS := $(foreach b,$(call kt_embed_names,$(3)),$(if $($(b)_SRC),$(1)/$(b).o)) $(1)/$(2).o

# objcopy's output format and architecture are read off an object the
# compiler itself produced, so nothing here names an architecture.
$(1)/objfmt: $(KT_EMBED_DIR)/probe.c
	@mkdir -p $$(@D)
	$$(CC) $$(KT_EMBED_CFLAGS) -c -o $$(@D)/probe.o $$<
	$(KT_OBJDUMP) -f $$(@D)/probe.o | sed -n -e 's/.*file format //p' \
		-e 's/^architecture: \([^,]*\).*/\1/p' > $$@.tmp
	test "$$$$(wc -l < $$@.tmp)" -eq 2
	mv -f $$@.tmp $$@

$(foreach b,$(call kt_embed_names,$(3)),$(eval $(call kt_embed_blob,$(1),$(b))))
$(foreach b,$(3),$(if $($(b)_CLOSURE),$(if $($(b)_SRC),$(eval $(call kt_embed_closure,$(1),$(b))))))

$(1)/$(2).c: $(KT_EMBED_DIR)/gen-blobtab.sh $(foreach b,$(call kt_embed_names,$(3)),$(1)/$(b) $(1)/$(b).src)
	$(KT_EMBED_DIR)/gen-blobtab.sh $$@ $(2) \
		$(foreach b,$(call kt_embed_names,$(3)),$(b):$(or $($(b)_NAME),$(b)):$($(b)_ARCH):$($(b)_ENV):$(or $($(b)_VAR),$(b)):$(1)/$(b))

$(1)/$(2).o: $(1)/$(2).c
	$$(CC) $$(KT_EMBED_CFLAGS) -c -o $$@ $$<
# The rules above must not become the including Makefile's default goal.
.DEFAULT_GOAL := $$(kt_embed_goal)
endef

FORCE:
.PHONY: FORCE
.DEFAULT_GOAL := $(kt_embed_goal)
