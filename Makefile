# edgebox — one readable Makefile.
#
#   make          build the daemon, the CLI, the tests and the benchmarks
#   make run      install what is missing, then start the box on config/sim.conf
#   make test     install what is missing, build and run every test
#   make asan     the tests under AddressSanitizer and UndefinedBehaviorSanitizer
#   make bench    the benchmarks, each as a ratio against a reference run alongside
#   make deps     install missing Debian packages and the dlib models (idempotent)
#   make install  PREFIX=/usr/local DESTDIR=
#
# BUILD picks the output folder, so sanitizer and plain builds never mix.

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= gcc
CXX     ?= g++
OPT     ?= -O2 -g
SAN     ?=

WARN     := -Wall -Wextra -Werror
CPPFLAGS += -I. -D_GNU_SOURCE
CFLAGS   += -std=gnu11 $(OPT) $(WARN) $(SAN) -pthread -MMD -MP
CXXFLAGS += -std=gnu++17 $(OPT) $(WARN) $(SAN) -pthread -MMD -MP
LDFLAGS  += $(SAN) -pthread
LDLIBS   += -lbluetooth -lv4l2 -lgpiod -lsqlite3 -lcurl -lcjson -lpcre2-8 -ljpeg \
            -lsodium -ldlib -llapack -lblas -lpng -lz -lm

MAINS      := firmware/edgeboxd.c firmware/edgeboxctl.c evals/main.c
LIB_SRCS   := $(filter-out $(MAINS),$(wildcard firmware/*.c hal/*.c drivers/*.c agent/*.c evals/*.c))
# C++ only where a C++ library demands it (dlib), behind a C header.
LIB_CXX_SRCS := $(wildcard agent/*.cc)
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB_CXX_SRCS:%.cc=$(BUILD)/obj/%.o)
# edgeboxctl's subcommands, one file per group.
CTL_SRCS   := $(wildcard firmware/ctl/*.c)
CTL_OBJS   := $(CTL_SRCS:%.c=$(BUILD)/obj/%.o)
LIB        := $(BUILD)/libedgebox.a

SUPPORT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support/*.c))
TEST_SUPPORT_OBJS := $(SUPPORT_OBJS) $(BUILD)/obj/tests/harness.o
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
BENCHES    := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/bench_*.c))
BINS       := $(BUILD)/bin/edgeboxd $(BUILD)/bin/edgeboxctl \
              $(if $(wildcard evals/main.c),$(BUILD)/bin/edgebox-eval)

.PHONY: all deps run test check asan bench evals tune install clean format format-check

all: $(BINS) $(TESTS) $(BENCHES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# Linked with the C++ driver so dlib's C++ runtime comes along.
$(BUILD)/bin/edgeboxd: $(BUILD)/obj/firmware/edgeboxd.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/edgeboxctl: $(BUILD)/obj/firmware/edgeboxctl.o $(CTL_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/edgebox-eval: $(BUILD)/obj/evals/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -lck -lhs -o $@

deps:
	@sh firmware/deps.sh

run: deps $(BINS)
	sh firmware/run-sim.sh $(BUILD)

test: deps
	@sh tests/find-faces.sh
	@$(MAKE) --no-print-directory all
	@sh tests/run.sh $(BUILD)/tests

check: test

asan: deps
	@sh tests/find-faces.sh
	@# clang: gcc 12's ASan aborts when a cancelled thread unwinds (the supervisor
	@# cancels stalled stages); clang 14's runtime handles it.
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" CC=clang CXX=clang++ \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		build-asan/bin/edgeboxd build-asan/bin/edgeboxctl build-asan/bin/edgebox-eval \
		$(patsubst $(BUILD)/%,build-asan/%,$(TESTS))
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		EDGEBOX_BIN=build-asan/bin sh tests/run.sh build-asan/tests

bench: deps
	@sh tests/find-faces.sh
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh $(BUILD)

evals: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/bin/edgebox-eval --report build/evals/report.md --json build/evals/results.json
	@# the held-out set: reported, never gated or tuned against (evals/heldout/README.md)
	-$(BUILD)/bin/edgebox-eval --scenarios evals/heldout --quiet \
		--report build/evals/heldout.md --json build/evals/heldout.json

tune: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/bin/edgebox-eval --tune $(or $(SKILL),objection_handling) --report build/evals/tune.md

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/edgebox \
		$(DESTDIR)/etc/edgebox $(DESTDIR)/lib/systemd/system
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	for d in skills catalog config; do \
		[ -z "$$(ls -A $$d 2>/dev/null)" ] || cp -R $$d $(DESTDIR)$(PREFIX)/share/edgebox/; \
	done
	{ cat config/edgebox.conf; \
	  printf '\n# make install: where the agent files are (later keys win)\n[agent]\n'; \
	  printf 'scope_rules = $(PREFIX)/share/edgebox/config/scope_rules.conf\n'; \
	  printf 'signals = $(PREFIX)/share/edgebox/config/signals.conf\n'; \
	  printf 'archetypes = $(PREFIX)/share/edgebox/config/archetypes.conf\n'; \
	  printf 'skills = $(PREFIX)/share/edgebox/skills/manifest.conf\n'; \
	  printf 'catalog = $(PREFIX)/share/edgebox/catalog\n'; \
	} > $(DESTDIR)/etc/edgebox/edgebox.conf
	chmod 0644 $(DESTDIR)/etc/edgebox/edgebox.conf
	sed 's|@PREFIX@|$(PREFIX)|g' firmware/edgeboxd.service > \
		$(DESTDIR)/lib/systemd/system/edgeboxd.service

clean:
	rm -rf build build-asan

FORMAT_SRCS = $(wildcard firmware/*.[ch] firmware/ctl/*.[ch] hal/*.[ch] drivers/*.[ch] agent/*.[ch] \
	agent/*.cc evals/*.[ch] tests/*.[ch] tests/support/*.[ch] tests/bench/*.[ch])

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
