# mcpgw - build, test and run.
#
#   make            build ./mcpgw (optimised, hardened)
#   make asan       build build/asan/mcpgw with AddressSanitizer + UndefinedBehaviorSanitizer
#   make test       install dependencies, build, run every test (unit, sanitizers, e2e, fuzz smoke)
#   make up         install dependencies, build, start the stack locally
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make bench      run the benchmarks in bench/
#   make format     reformat sources with clang-format; `make check-format` only checks

.DEFAULT_GOAL := all

CC      ?= cc
PKGS    := libevent libevent_openssl libevent_pthreads openssl hiredis libcurl jansson libxml-2.0 libxcrypt libargon2 zlib
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# llhttp's C sources come from Debian's node-llhttp (installed, or unpacked by scripts/setup).
LLHTTP_DIR := $(firstword $(wildcard /usr/share/llhttp) $(wildcard .deps/llhttp/usr/share/llhttp))
LLHTTP_INC := $(firstword $(wildcard /usr/share/include/llhttp) $(wildcard .deps/llhttp/usr/share/include/llhttp))

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CSTD     := -std=c11 -D_GNU_SOURCE
HARDEN   := -fstack-protector-strong -fPIE
BASE_CFLAGS := $(CSTD) $(WARN) $(HARDEN) -g -Isrc -I$(LLHTTP_INC) $(PKG_CFLAGS) -DMCPGW_VERSION='"$(VERSION)"'
LDHARDEN := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
LIBS     := $(PKG_LIBS) -lpthread -lm

RELEASE_CFLAGS := $(BASE_CFLAGS) -O2 -D_FORTIFY_SOURCE=2
ASAN_CFLAGS    := $(BASE_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_LDFLAGS   := -fsanitize=address,undefined

SRCS      := $(sort $(wildcard src/core/*.c src/auth/*.c src/router/*.c src/mcp/*.c src/ops/*.c))
MAIN_SRC  := src/main.c
LLHTTP_SRCS := $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))

# variant directories: build/release and build/asan
define variant
$(1)_OBJS := $$(patsubst %.c,build/$(1)/%.o,$$(SRCS))
$(1)_LLHTTP_OBJS := $$(patsubst $$(LLHTTP_DIR)/%.c,build/$(1)/llhttp/%.o,$$(LLHTTP_SRCS))
$(1)_UNITS := $$(patsubst tests/unit/%.c,build/$(1)/tests/%,$$(UNIT_SRCS))

build/$(1)/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$($(2)) -MMD -MP -c $$< -o $$@

build/$(1)/llhttp/%.o: $$(LLHTTP_DIR)/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(filter-out -Werror -Wmissing-prototypes -Wshadow,$$($(2))) -Wno-unused-parameter -c $$< -o $$@

build/$(1)/libmcpgw.a: $$($(1)_OBJS) $$($(1)_LLHTTP_OBJS)
	@rm -f $$@
	ar rcs $$@ $$^

build/$(1)/mcpgw: build/$(1)/src/main.o build/$(1)/libmcpgw.a
	$$(CC) $$(LDHARDEN) $(3) -o $$@ $$^ $$(LIBS)

build/$(1)/tests/%: tests/unit/%.c build/$(1)/libmcpgw.a $$(wildcard tests/unit/*.h tests/support/*.h)
	@mkdir -p $$(@D)
	$$(CC) $$($(2)) -Itests/unit $$(shell pkg-config --cflags cmocka) -o $$@ $$< build/$(1)/libmcpgw.a \
		$$(LDHARDEN) $(3) $$(LIBS) $$(shell pkg-config --libs cmocka)

# end-to-end fixtures: small programs on the core library (tests/e2e/*.c)
build/$(1)/tests/e2e_%: tests/e2e/%.c build/$(1)/libmcpgw.a
	@mkdir -p $$(@D)
	$$(CC) $$($(2)) -o $$@ $$< build/$(1)/libmcpgw.a $$(LDHARDEN) $(3) $$(LIBS)

$(1)_FIXTURES := $$(patsubst tests/e2e/%.c,build/$(1)/tests/e2e_%,$$(wildcard tests/e2e/*.c))

-include $$($(1)_OBJS:.o=.d) build/$(1)/src/main.d
endef

$(eval $(call variant,release,RELEASE_CFLAGS,))
$(eval $(call variant,asan,ASAN_CFLAGS,$(ASAN_LDFLAGS)))

.PHONY: all asan units units-asan test up fuzz fuzz-build bench bench-token-check format check-format setup clean

all: mcpgw

mcpgw: build/release/mcpgw
	cp $< $@.tmp && mv -f $@.tmp $@

asan: build/asan/mcpgw

units: $(release_UNITS) $(release_FIXTURES)
units-asan: $(asan_UNITS) $(asan_FIXTURES)

setup:
	@scripts/setup

# Fuzz targets: clang, libFuzzer, ASan+UBSan; each links the core sources compiled by clang.
FUZZ_SANITIZERS := -fsanitize=fuzzer,address,undefined
FUZZ_CFLAGS := $(CSTD) -g -O1 $(FUZZ_SANITIZERS) -fno-sanitize-recover=undefined \
	-Isrc -I$(LLHTTP_INC) $(PKG_CFLAGS) -DMCPGW_VERSION='"$(VERSION)"' -DMCPGW_FUZZING
FUZZ_CORE_OBJS := $(patsubst %.c,build/fuzz/%.o,$(SRCS)) \
	$(patsubst $(LLHTTP_DIR)/%.c,build/fuzz/llhttp/%.o,$(LLHTTP_SRCS))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(FUZZ_SRCS))

build/fuzz/%.o: %.c
	@mkdir -p $(@D)
	clang $(filter-out $(FUZZ_SANITIZERS),$(FUZZ_CFLAGS)) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

build/fuzz/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	clang $(filter-out $(FUZZ_SANITIZERS),$(FUZZ_CFLAGS)) -fsanitize=fuzzer-no-link,address,undefined -Wno-unused-parameter -c $< -o $@

# an archive, so each target pulls in only the objects it uses
build/fuzz/libmcpgw.a: $(FUZZ_CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/bin/%: tests/fuzz/%.c build/fuzz/libmcpgw.a
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BINS)

FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	@tests/fuzz/run $(FUZZ_SECONDS)

test: setup
	@$(MAKE) --no-print-directory all asan units units-asan fuzz-build
	@tests/run

up: setup
	@$(MAKE) --no-print-directory all
	@scripts/up

bench: setup all
	@bench/run

# In-process micro-benchmark of the router's cached-token check (not part of `make test`).
build/release/bench/token_check: bench/token_check/token_check_bench.c build/release/libmcpgw.a
	@mkdir -p $(@D)
	$(CC) $(RELEASE_CFLAGS) -o $@ $< build/release/libmcpgw.a $(LDHARDEN) $(LIBS)

bench-token-check: build/release/bench/token_check

format:
	clang-format -i $(SRCS) $(MAIN_SRC) src/*/*.h $(UNIT_SRCS) $(FUZZ_SRCS)

check-format:
	clang-format --dry-run -Werror $(SRCS) $(MAIN_SRC) src/*/*.h

clean:
	rm -rf build mcpgw
