# make fuzz: libFuzzer targets for the parsers of untrusted bytes, built
# with clang, ASan and UBSan.  FUZZ_SECONDS per target (default 60);
# make check runs each briefly over its seed corpus.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := elfinfo ldcache channel bzimage kconfig
FUZZ_DIR := $(OUT)/fuzz
# One compiler call per target, several sources: no -MMD (it cannot name
# one file per source then); every header counts instead.
FUZZ_FLAGS := $(filter-out -MMD -MP,$(KT_BASE_CFLAGS)) -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_DIR)/fuzz_elfinfo: tests/fuzz/fuzz_elfinfo.c src/elfinfo.c src/util.c
$(FUZZ_DIR)/fuzz_ldcache: tests/fuzz/fuzz_ldcache.c src/ldcache.c src/util.c
$(FUZZ_DIR)/fuzz_channel: tests/fuzz/fuzz_channel.c src/channel.c src/outq.c src/util.c src/collect.c
$(FUZZ_DIR)/fuzz_bzimage: tests/fuzz/fuzz_bzimage.c src/kernel.c src/kconfig.c src/arch.c src/util.c \
	src/cache.c src/workdir.c
$(FUZZ_DIR)/fuzz_kconfig: tests/fuzz/fuzz_kconfig.c src/kconfig.c src/util.c src/cache.c \
	src/workdir.c
$(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%): $(wildcard include/ktpack/*.h src/*.h src/guest/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) $(LIBS)

# Seeds: real files of the machine.
$(FUZZ_DIR)/seed-elfinfo/.done:
	@mkdir -p $(@D)
	cp /bin/true /bin/busybox /lib/x86_64-linux-gnu/libc.so.6 $(@D)/ 2>/dev/null || cp /bin/true $(@D)/
	touch $@
$(FUZZ_DIR)/seed-ldcache/.done:
	@mkdir -p $(@D)
	cp /etc/ld.so.cache $(@D)/ 2>/dev/null || printf 'glibc-ld.so.cache1.1' > $(@D)/min
	touch $@

# A real config (the Debian kernel's that `make deps` unpacks), and a
# small one with each kind of line.
$(FUZZ_DIR)/seed-kconfig/.done:
	@mkdir -p $(@D)
	cp /var/cache/ktpack/config-* $(@D)/ 2>/dev/null || true
	printf '#\n# CONFIG_KPROBES is not set\nCONFIG_BPF=y\nCONFIG_HZ=250\nCONFIG_LSM="a,b"\r\n' > $(@D)/small
	touch $@

# Small bzImages, one per payload compression.
$(FUZZ_DIR)/seed-bzimage/.done: tests/fuzz/seed_bzimage.sh
	@mkdir -p $(@D)
	tests/fuzz/seed_bzimage.sh $(@D)
	touch $@

# Valid streams of frames, as a guest init sends them, and hostile ones.
$(FUZZ_DIR)/seed-channel/.done: tests/fuzz/seed_channel.c src/channel.c src/outq.c src/util.c \
	src/collect.c
	@mkdir -p $(@D)
	$(CC) $(KT_BASE_CFLAGS) -o $(FUZZ_DIR)/seed-channel-gen $(filter %.c,$^) $(LIBS)
	$(FUZZ_DIR)/seed-channel-gen > $(@D)/stream
	$(FUZZ_DIR)/seed-channel-gen hostile > $(@D)/hostile
	$(FUZZ_DIR)/seed-channel-gen headers > $(@D)/headers
	$(FUZZ_DIR)/seed-channel-gen exec > $(@D)/exec
	touch $@

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%) \
	$(FUZZ_TARGETS:%=$(FUZZ_DIR)/seed-%/.done)

fuzz: fuzz-build
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus-$$t && \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			$(FUZZ_DIR)/corpus-$$t $(FUZZ_DIR)/seed-$$t || exit 1; \
	done

.PHONY: fuzz fuzz-build
