# Turns every blob of blobs/blobs.mk into a linker object with objcopy, and
# generates the table that names them.  Included by the top Makefile.
#
# objcopy -I binary names its symbols after the input path, so it runs from
# the folder that holds the blob under its manifest name: the symbols are
# _binary_<name>_start/_end whatever the source path was.  The _size symbol
# is stripped: it is an absolute symbol, which PIE does not relocate, so
# its "address" is not the size in a PIE (the table uses end - start).

BLOB_DIR := $(OUT)/blobs

# A blob variable set to a file that does not exist is a typo, not an empty
# slot: say so instead of building a binary without it.  Files under
# $(OUT) are built by make itself.
$(foreach b,$(BLOBS) $(LIB_BLOBS),$(if $($($(b)_VAR)),$(if $(wildcard $($($(b)_VAR))),,\
  $(if $(filter $(OUT)/%,$($($(b)_VAR))),,\
  $(error $($(b)_VAR)=$($($(b)_VAR)): no such file)))))

# Blobs with a source are embedded; the others are empty slots.
BLOBS_EMBEDDED := $(foreach b,$(BLOBS),$(if $($($(b)_VAR)),$(b)))
BLOB_OBJS := $(BLOBS_EMBEDDED:%=$(BLOB_DIR)/%.o)
LIB_BLOB_OBJS := $(LIB_BLOBS:%=$(BLOB_DIR)/%.o)

# objcopy's output format and architecture are read off an object the
# compiler itself produced, so nothing here names x86-64.
$(OUT)/gen/objfmt: build/probe.c
	@mkdir -p $(@D)
	$(CC) $(KT_CFLAGS) -c -o $(@D)/probe.o $<
	$(OBJDUMP) -f $(@D)/probe.o | sed -n -e 's/.*file format //p' \
		-e 's/^architecture: \([^,]*\).*/\1/p' > $@.tmp
	test "$$(wc -l < $@.tmp)" -eq 2
	mv -f $@.tmp $@

define kt_blob_rules
# The .src stamp changes when the make variable names another file.
$(BLOB_DIR)/$(1).src: FORCE
	@build/update-if-changed.sh $$@ '$($($(1)_VAR))'

$(BLOB_DIR)/$(1): $($($(1)_VAR)) $(BLOB_DIR)/$(1).src
	@mkdir -p $$(@D)
	$(if $($($(1)_VAR)),cp -f $($($(1)_VAR)) $$@.tmp,: > $$@.tmp)
	mv -f $$@.tmp $$@
endef
$(foreach b,$(BLOBS) $(LIB_BLOBS),$(eval $(call kt_blob_rules,$(b))))

# .rodata.<name>: read-only data.  The alignment is set on objcopy's *input*
# section name (.data), and 4096 keeps the blob's file offset page-aligned,
# which lets copy_file_range reflink it.  The empty .note.GNU-stack tells the
# linker this object needs no executable stack.
$(BLOB_DIR)/%.o: $(BLOB_DIR)/% $(OUT)/gen/objfmt build/blob.mk
	cd $(BLOB_DIR) && $(OBJCOPY) -I binary \
		-O "$$(sed -n 1p $(abspath $(OUT))/gen/objfmt)" \
		-B "$$(sed -n 2p $(abspath $(OUT))/gen/objfmt)" \
		--rename-section .data=.rodata.$*,alloc,load,readonly,data,contents \
		--set-section-alignment .data=4096 \
		--add-section .note.GNU-stack=/dev/null \
		--set-section-flags .note.GNU-stack=contents,readonly \
		--strip-symbol _binary_$*_size \
		$* $*.o.tmp
	mv -f $@.tmp $@

$(OUT)/gen/blobtab.c: build/gen-blobtab.sh $(BLOBS:%=$(BLOB_DIR)/%)
	@mkdir -p $(@D)
	build/gen-blobtab.sh $@ kt_embedded_blobs \
		$(foreach b,$(BLOBS),$(b):$($(b)_ENV):$($(b)_VAR):$(BLOB_DIR)/$(b))

$(OUT)/gen/guesttab.c: build/gen-blobtab.sh $(LIB_BLOBS:%=$(BLOB_DIR)/%)
	@mkdir -p $(@D)
	build/gen-blobtab.sh $@ kt_guest_blobs \
		$(foreach b,$(LIB_BLOBS),$(b):$($(b)_ENV):$($(b)_VAR):$(BLOB_DIR)/$(b))
