# make bench: figures as ratios against baselines timed in the same run.
# Included by the top Makefile.

BENCH := $(OUT)/bench

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

bench: $(BENCH)/k64/ktpack $(BENCH)/naive-extract
	bench/extract.sh $(BENCH)/k64/ktpack $(BENCH)/naive-extract \
		$(BENCH)/blob64m $(abspath $(BENCH))/work $(abspath $(BENCH))/tmpfs

.PHONY: bench
