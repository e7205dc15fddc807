# make check: unit tests (cmocka), the same under ASan/UBSan, and the
# shell-level tests of the built binaries.  Included by the top Makefile.

CMOCKA_CFLAGS = $(call kt_once,CMOCKA_CFLAGS,$(shell $(PKG_CONFIG) --cflags cmocka))
CMOCKA_LIBS = $(call kt_once,CMOCKA_LIBS,$(shell $(PKG_CONFIG) --libs cmocka))
UNIT_TESTS := util blob cache extract wprof vmconfig elfinfo ldcache elfdeps cpio initramfs kernel kconfig channel modules proc accel vm run outq
UNIT_BINS := $(UNIT_TESTS:%=$(OUT)/tests/test_%)

$(OUT)/tests/test_%: tests/test_%.c $(OUT)/libktpack.a $(OUT)/gen/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) $(CMOCKA_CFLAGS) -Wno-missing-prototypes \
		$(KT_LDFLAGS) -o $@ $< $(OUT)/libktpack.a $(LIBS) $(CMOCKA_LIBS)

# Test programs; none of them is ever embedded in a shipped build.
# wprof-fixture is wprof-shaped: dynamically linked against libelf, libz
# and libzstd like wprof, it records its argv and writes the -T file.
$(OUT)/tests/wprof-fixture: tests/fixtures/wprof-fixture.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) -o $@ $< -lelf -lz -lzstd

# The same fixture for arm64 guests, and a small arm64 program linked
# against Debian's arm64 zlib, with the cross compiler when there is one.
KT_TESTS_ARM64 := $(if $(INIT_ARM64),$(OUT)/tests/wprof-fixture-arm64 $(OUT)/tests/crc32-arm64)
$(OUT)/tests/wprof-fixture-arm64: tests/fixtures/wprof-fixture.c
	@mkdir -p $(@D)
	$(CROSS_CC_ARM64) $(CFLAGS) $(KT_BASE_CFLAGS) $(KT_WARN) -o $@ $< -lelf -lz -lzstd
$(OUT)/tests/crc32-arm64: tests/fixtures/crc32.c
	@mkdir -p $(@D)
	$(CROSS_CC_ARM64) $(CFLAGS) $(KT_BASE_CFLAGS) $(KT_WARN) -o $@ $< -lz
$(OUT)/tests/crc32: tests/fixtures/crc32.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) -o $@ $< -lz

# A guest command that writes frames of its own on init's port.
$(OUT)/tests/ch-forge: tests/fixtures/ch-forge.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) -o $@ $< -lz

# Module-shaped objects (tests/fixtures/module.c) for test_modules: this
# kernel's and another's.
$(OUT)/tests/module-fixture.o $(OUT)/tests/module-other.o: tests/fixtures/module.c
	@mkdir -p $(@D)
	$(CC) -c -o $@ $< $(if $(findstring other,$@),-DVERMAGIC='"5.10.0-other"')
$(OUT)/tests/test_modules: $(OUT)/tests/module-fixture.o $(OUT)/tests/module-other.o

# Rewrites a dynamic tag, to make a binary with both DT_RPATH and DT_RUNPATH.
$(OUT)/tests/dyntag: tests/fixtures/dyntag.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) -o $@ $< -lelf

# A front end of the library (tests/fixtures/run-lib.c), as built with
# it, and with the library built under ThreadSanitizer (t0630).
$(OUT)/tests/run-lib: tests/fixtures/run-lib.c $(OUT)/libktpack.a $(kt_embedded_blobs_OBJS) \
		$(OUT)/gen/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_CFLAGS) $(KT_LDFLAGS) -pthread -o $@ $< $(kt_embedded_blobs_OBJS) \
		$(OUT)/libktpack.a $(LIBS)
KT_TSAN_CFLAGS := -fsanitize=thread -fno-omit-frame-pointer
KT_TSAN_OBJS := $(LIB_SRCS:src/%.c=$(OUT)/tsan/obj/%.o)
$(OUT)/tsan/obj/%.o: src/%.c $(OUT)/gen/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_BASE_CFLAGS) $(KT_WARN) $(KT_PKG_CFLAGS) $(KT_TSAN_CFLAGS) -c -o $@ $<
$(OUT)/tests/run-lib-tsan: tests/fixtures/run-lib.c $(KT_TSAN_OBJS) $(kt_guest_blobs_OBJS) \
		$(kt_embedded_blobs_OBJS) $(OUT)/gen/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KT_BASE_CFLAGS) $(KT_WARN) $(KT_PKG_CFLAGS) $(KT_TSAN_CFLAGS) -pthread \
		-o $@ $< $(KT_TSAN_OBJS) $(kt_guest_blobs_OBJS) $(kt_embedded_blobs_OBJS) $(LIBS)
-include $(wildcard $(OUT)/tsan/obj/*.d)

# LD_PRELOAD fault injector for the CLI tests (kills a run mid-copy).
$(OUT)/tests/faultinject.so: tests/fixtures/faultinject.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -D_GNU_SOURCE -MMD -MP -Wall -Wextra -Werror -fPIC -shared \
		-o $@ $< -ldl

unit-tests: $(UNIT_BINS)

# ktpack with the fixture embedded as wprof (and its arm64 build as
# WPROF_ARM64), built like a user would.
$(OUT)/fixture/ktpack: $(OUT)/tests/wprof-fixture $(KT_TESTS_ARM64) FORCE
	$(MAKE) --no-print-directory OUT=$(OUT)/fixture \
		WPROF=$(OUT)/tests/wprof-fixture \
		$(if $(KT_TESTS_ARM64),WPROF_ARM64=$(OUT)/tests/wprof-fixture-arm64) $(OUT)/fixture/ktpack

# The same, fully static: what gets copied to an offline runner, with the
# dynamic fixture as its wprof (and so its libraries embedded).
$(OUT)/static/ktpack: $(OUT)/tests/wprof-fixture FORCE
	$(MAKE) --no-print-directory OUT=$(OUT)/static STATIC=1 \
		WPROF=$(OUT)/tests/wprof-fixture $(OUT)/static/ktpack

check-build: all unit-tests $(OUT)/tests/wprof-fixture $(OUT)/tests/crc32 $(OUT)/tests/ch-forge \
	$(OUT)/tests/run-lib $(OUT)/tests/run-lib-tsan \
	$(KT_TESTS_ARM64) \
	$(OUT)/tests/faultinject.so $(OUT)/tests/dyntag $(OUT)/fixture/ktpack \
	$(OUT)/static/ktpack fuzz-build
	$(MAKE) --no-print-directory OUT=$(OUT)/asan SAN=1 unit-tests
	$(MAKE) --no-print-directory OUT=$(OUT)/clang CC=clang unit-tests

check: check-build
	tests/run.sh $(OUT)

.PHONY: unit-tests check check-build
