# luxy - HTTP proxy: libev core, Lua 5.4 policy scripts.
#
#   make run       install what is missing (as root), build, start on the default config
#   make test      install what is missing, build, run every test: unit and integration
#                  tests on the normal build, again on the ASan+UBSan build, then each
#                  fuzz target for FUZZ_CI_TIME seconds
#   make bench     side-by-side benchmark against nginx and haproxy (not a test)
#   make bench-check     callgrind instructions per request (pass-through 1 KiB and
#                  100 KiB, three hooks, a cache hit) against tests/bench/baseline.json:
#                  fails on a rise beyond its tolerance (2%); about a minute
#   make bench-baseline  rewrites tests/bench/baseline.json from this build
#   make asan      AddressSanitizer + UndefinedBehaviorSanitizer build in build/asan
#   make ubsan     UndefinedBehaviorSanitizer build in build/ubsan
#   make fuzz      every libFuzzer target for FUZZ_TIME seconds
#   make valgrind  the integration tests with luxy under valgrind memcheck
#   make soak      SOAK_MINUTES (10) of mixed traffic; see docs/reliability.md
#   make install   build if needed, then install under DESTDIR/PREFIX (default /usr/local):
#                  sbin/luxy, share/luxy/scripts, share/doc/luxy, share/man/man8/luxy.8.gz,
#                  the systemd unit in SYSTEMD_UNIT_DIR, and SYSCONFDIR/luxy/luxy.lua
#                  (SYSCONFDIR: /etc when PREFIX=/usr) from scripts/default.lua, only
#                  when there is none yet: an operator's configuration is never replaced
#   make uninstall remove what install put there, except the configuration
#   make clean
#
# Dependencies are Debian packages only; `make deps` installs them when run
# as root (apt-get update once, then apt-get install), or prints the command.

BUILD ?= build
CC ?= cc
OPT ?= -O2 -g
SANITIZE ?=

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
LUA_CFLAGS = $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS = $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(LUA_CFLAGS) $(SANITIZE) -MMD -MP $(CFLAGS)
LDLIBS_ALL = $(LUA_LIBS) -lev -lhttp_parser -lcares -lcrypt -lpthread -lm $(SANITIZE) $(LDFLAGS)

PKGS_BUILD := gcc make pkg-config liblua5.4-dev libev-dev libhttp-parser-dev libc-ares-dev libcrypt-dev
PKGS_TEST := python3 python3-pytest curl groff-base chromium
PKGS_BENCH := wrk nginx-light libnginx-mod-http-lua haproxy varnish curl procps
PKGS_FUZZ := clang libclang-rt-14-dev
PKGS_BENCH_CHECK := valgrind nginx-light

FUZZ_TARGETS := request response chunked headers config pattern cachectl authfile identity purge access_log trace_filter sim_trace
FUZZ_TIME ?= 60
FUZZ_CI_TIME ?= 30
FUZZ_BUILD := build/fuzz
SOAK_MINUTES ?= 10

ASAN_BUILD := build/asan
ASAN_FLAGS := OPT="-O1 -g -fno-omit-frame-pointer" \
              SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
# leaks are errors; UBSan stops at the first report
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

CORE_SRCS := $(filter-out core/main.c,$(wildcard core/*.c)) $(wildcard lua/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/embedded.o
EMBEDDED := scripts/default.lua $(wildcard lua/luxy/*.lua lua/luxy/*/*.lua lua/lab/*.lua) core/admin_page.html
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
PYTHON := /usr/bin/python3

# ---- install locations (GNU conventions; DESTDIR for staging and packaging) ----
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
DOCDIR ?= $(DATADIR)/doc/luxy
MANDIR ?= $(DATADIR)/man
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
INSTALL_SCRIPTS := $(wildcard scripts/*.lua scripts/*/*.lua)
INSTALL_DOCS := $(wildcard docs/*.md)

.PHONY: all run test test-asan unit integration bench bench-check bench-baseline deps-bench-check asan ubsan fuzz fuzz-build valgrind soak clean \
        deps deps-test deps-bench deps-fuzz install uninstall

all: $(BUILD)/luxy

$(BUILD)/luxy: $(BUILD)/core/main.o $(BUILD)/libluxy.a
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/libluxy.a: $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/embedded.c: $(EMBEDDED) lua/embed.sh
	@mkdir -p $(BUILD)
	sh lua/embed.sh $(EMBEDDED) > $@.tmp && mv $@.tmp $@

$(BUILD)/embedded.o: $(BUILD)/embedded.c
	$(CC) $(CFLAGS_ALL) -Ilua -c $< -o $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libluxy.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libluxy.a $(LDLIBS_ALL)

# ---- dependencies (Debian packages) ----

define install_missing
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			if [ ! -f $(BUILD)/.apt-updated ]; then apt-get update -q && mkdir -p $(BUILD) && touch $(BUILD)/.apt-updated; fi; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		else \
			echo "missing packages:$$missing"; \
			echo "install them with: sudo apt-get install -y$$missing"; \
			exit 1; \
		fi; \
	fi
endef

deps:
	$(call install_missing,$(PKGS_BUILD))

deps-test: deps
	$(call install_missing,$(PKGS_TEST))

deps-bench: deps
	$(call install_missing,$(PKGS_BENCH))

deps-fuzz: deps
	$(call install_missing,$(PKGS_FUZZ))

deps-bench-check: deps
	$(call install_missing,$(PKGS_BENCH_CHECK))

# ---- the two commands a newcomer needs ----

run: deps
	$(MAKE) --no-print-directory all
	./$(BUILD)/luxy

test: deps-test deps-fuzz
	$(MAKE) --no-print-directory all $(UNIT_BINS)
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_CI_TIME)
	@echo "make test: all passed (normal build, ASan+UBSan build, fuzzing)"

# the whole suite again on the sanitizer build: any report fails it
test-asan:
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) $(ASAN_FLAGS) all \
		$(UNIT_SRCS:tests/unit/%.c=$(ASAN_BUILD)/tests/%)
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) $(ASAN_FLAGS) unit integration

unit: $(UNIT_BINS)
	@failed=0; for t in $(UNIT_BINS); do $$t || failed=1; done; \
	if [ $$failed = 0 ]; then echo "unit tests: all suites passed"; else echo "unit tests: FAILED"; exit 1; fi

integration: $(BUILD)/luxy
	cd tests/integration && LUXY_BIN=$(abspath $(BUILD)/luxy) LUXY_WRAPPER="$(LUXY_WRAPPER)" \
		LUXY_TIMEOUT_SCALE="$(LUXY_TIMEOUT_SCALE)" $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

asan:
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) $(ASAN_FLAGS) all

ubsan:
	$(MAKE) --no-print-directory BUILD=build/ubsan OPT="-O1 -g" \
		SANITIZE="-fsanitize=undefined -fno-sanitize-recover=undefined" all

# memcheck is 20-50x slower: timeouts scale, the heaviest tests are skipped
valgrind: deps-test
	$(call install_missing,valgrind)
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory integration PYTEST_ARGS="-m 'not heavy' $(PYTEST_ARGS)" \
		LUXY_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no" \
		LUXY_TIMEOUT_SCALE=10

soak: deps-test
	$(MAKE) --no-print-directory all
	SOAK_MINUTES=$(SOAK_MINUTES) $(PYTHON) tests/soak/soak.py --luxy $(BUILD)/luxy

# libFuzzer targets (clang): each runs FUZZ_TIME seconds on a copy of its corpus
fuzz-build: deps-fuzz
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
		SANITIZE="-fsanitize=address,undefined -fsanitize=fuzzer-no-link" $(FUZZ_BUILD)/libluxy.a
	@for t in $(FUZZ_TARGETS); do \
		echo "clang ... tests/fuzz/fuzz_$$t.c"; \
		clang -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) $(LUA_CFLAGS) -fsanitize=fuzzer,address,undefined \
			tests/fuzz/fuzz_$$t.c $(FUZZ_BUILD)/libluxy.a $(LUA_LIBS) -lev -lhttp_parser -lcares -lcrypt -lpthread -lm \
			-o $(FUZZ_BUILD)/fuzz_$$t || exit 1; \
	done

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

bench: deps-bench
	$(MAKE) --no-print-directory all
	tests/bench/bench.sh

bench-check: deps-bench-check
	$(MAKE) --no-print-directory all
	$(PYTHON) tests/bench/bench_check.py check

bench-baseline: deps-bench-check
	$(MAKE) --no-print-directory all
	$(PYTHON) tests/bench/bench_check.py baseline

# ---- install ----

$(BUILD)/luxy.8.gz: docs/luxy.8
	@mkdir -p $(BUILD)
	gzip -9 -n -c docs/luxy.8 > $@.tmp && mv $@.tmp $@

# The unit is made again on every install: its paths depend on PREFIX, which
# a timestamp cannot tell. Comments keep their @NAME@: they describe them.
install: $(BUILD)/luxy $(BUILD)/luxy.8.gz
	install -D -m 755 $(BUILD)/luxy "$(DESTDIR)$(SBINDIR)/luxy"
	@for f in $(INSTALL_SCRIPTS); do \
		echo "install -D -m 644 $$f $(DESTDIR)$(DATADIR)/luxy/$$f"; \
		install -D -m 644 "$$f" "$(DESTDIR)$(DATADIR)/luxy/$$f" || exit 1; \
	done
	@for f in $(INSTALL_DOCS); do \
		echo "install -D -m 644 $$f $(DESTDIR)$(DOCDIR)/$${f#docs/}"; \
		install -D -m 644 "$$f" "$(DESTDIR)$(DOCDIR)/$${f#docs/}" || exit 1; \
	done
	install -D -m 644 $(BUILD)/luxy.8.gz "$(DESTDIR)$(MANDIR)/man8/luxy.8.gz"
	sed -e '/^#/!s|@SBINDIR@|$(SBINDIR)|g' -e '/^#/!s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		-e '/^#/!s|@DOCDIR@|$(DOCDIR)|g' scripts/luxy.service > $(BUILD)/luxy.service.tmp
	install -D -m 644 $(BUILD)/luxy.service.tmp "$(DESTDIR)$(SYSTEMD_UNIT_DIR)/luxy.service"
	@rm -f $(BUILD)/luxy.service.tmp
	@if [ -e "$(DESTDIR)$(SYSCONFDIR)/luxy/luxy.lua" ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/luxy/luxy.lua (not replaced; the new default is in $(DATADIR)/luxy/scripts/default.lua)"; \
	else \
		echo "install -D -m 644 scripts/default.lua $(DESTDIR)$(SYSCONFDIR)/luxy/luxy.lua"; \
		install -D -m 644 scripts/default.lua "$(DESTDIR)$(SYSCONFDIR)/luxy/luxy.lua"; \
	fi

# Needs no build: removing files must not compile anything (nor leave
# root-owned objects in build/ under sudo). Directories go only when empty,
# and SYSCONFDIR/luxy/luxy.lua stays: it is the operator's.
uninstall:
	rm -f "$(DESTDIR)$(SBINDIR)/luxy" "$(DESTDIR)$(MANDIR)/man8/luxy.8.gz" \
		"$(DESTDIR)$(SYSTEMD_UNIT_DIR)/luxy.service"
	@for f in $(INSTALL_SCRIPTS); do echo "rm -f $(DESTDIR)$(DATADIR)/luxy/$$f"; rm -f "$(DESTDIR)$(DATADIR)/luxy/$$f"; done
	@for f in $(INSTALL_DOCS); do echo "rm -f $(DESTDIR)$(DOCDIR)/$${f#docs/}"; rm -f "$(DESTDIR)$(DOCDIR)/$${f#docs/}"; done
	@for d in $(filter-out scripts/,$(sort $(dir $(INSTALL_SCRIPTS)))) scripts/; do \
		rmdir "$(DESTDIR)$(DATADIR)/luxy/$$d" 2>/dev/null || true; \
	done
	@rmdir "$(DESTDIR)$(DATADIR)/luxy" "$(DESTDIR)$(DOCDIR)" 2>/dev/null || true

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
