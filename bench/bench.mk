# make bench: figures as ratios against baselines timed in the same run.
# Included by the top Makefile.

BENCH := $(OUT)/bench
KERNEL ?= $(or $(KTSTR_KERNEL),/var/cache/ktpack/vmlinuz)

# 64 MiB of random bytes embedded as wprof: what extraction costs.
$(BENCH)/blob64m:
	@mkdir -p $(@D)
	head -c 64M /dev/urandom > $@.tmp
	mv -f $@.tmp $@

$(BENCH)/k64/ktpack: $(BENCH)/blob64m FORCE
	$(MAKE) --no-print-directory OUT=$(BENCH)/k64 WPROF=$(BENCH)/blob64m \
		$(BENCH)/k64/ktpack

$(BENCH)/naive-extract: bench/naive-extract.c $(BENCH)/k64/ktpack
	$(CC) $(CFLAGS) -o $@ $< $(BENCH)/k64/blobs/wprof.o

$(BENCH)/reader: bench/reader.c $(OUT)/libktpack.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) -Wno-missing-prototypes -o $@ $< $(OUT)/libktpack.a $(LIBS)

# Each part runs even when an earlier one missed its target; make fails
# at the end if any did.
bench: $(BENCH)/k64/ktpack $(BENCH)/naive-extract $(OUT)/ktpack $(OUT)/fixture/ktpack \
	$(BENCH)/reader
	@fail=0; \
	$(BENCH)/reader || fail=1; \
	bench/extract.sh $(BENCH)/k64/ktpack $(BENCH)/naive-extract \
		$(BENCH)/blob64m $(abspath $(BENCH))/work $(abspath $(BENCH))/tmpfs || fail=1; \
	bench/closure.sh $(abspath $(OUT))/ktpack $(abspath $(BENCH))/closure || fail=1; \
	bench/initramfs.sh $(abspath $(OUT))/fixture/ktpack $(abspath $(BENCH))/archive || fail=1; \
	bench/vm.sh $(abspath $(OUT))/ktpack $(KERNEL) $(abspath $(BENCH))/vm || fail=1; \
	bench/channel.sh $(abspath $(OUT))/fixture/ktpack $(KERNEL) $(abspath $(BENCH))/channel || fail=1; \
	bench/accel.sh $(abspath $(OUT))/ktpack $(KERNEL) $(abspath $(BENCH))/accel || fail=1; \
	bench/timeout.sh $(abspath $(OUT))/fixture/ktpack $(KERNEL) $(abspath $(BENCH))/timeout || fail=1; \
	bench/topology.sh $(abspath $(OUT))/ktpack $(KERNEL) $(abspath $(BENCH))/topology || fail=1; \
	exit $$fail

.PHONY: bench
