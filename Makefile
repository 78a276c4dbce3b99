# ngx_http_mcp_module: the developer's and the user's entry points.
#
#   make            build the dynamic module (build/ngx_http_mcp_module.so)
#   make demo       run the demo gateway in the foreground (Ctrl-C stops it)
#   make test       build, then run the unit tests, the fuzzers (briefly)
#                   and the integration tests
#   make test-soak  the fault suite (t/test_coherence.py), six times longer
#   make test-prometheus  the metrics as Debian's Prometheus sees them
#   make fuzz       the libFuzzer harnesses of t/fuzz, FUZZ_SECONDS each
#   make install    install the module the Debian way
#   make bench      the benchmark (scripts/bench)
#
# NGINX_SRC=/path/to/nginx builds against another nginx tree, NGINX_STATIC=1
# links the module into an nginx binary (see scripts/build).

PYTHON      := /usr/bin/python3
BUILD       ?= build
SRC         := ngx_http_mcp_module
DESTDIR     ?=
MODULES_DIR ?= /usr/lib/nginx/modules

CFLAGS_UNIT := -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined \
               -fno-omit-frame-pointer -I$(SRC)

# the pure C parts of the module (no nginx types, listed in $(SRC)/sources)
# and their unit tests
UNIT_SRCS   := $(addprefix $(SRC)/,$(shell . ./$(SRC)/sources && \
                                       echo $$ngx_http_mcp_pure_srcs))
UNIT_TESTS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(wildcard t/unit/test_*.c))

# the fuzzers (t/fuzz): clang's libFuzzer with ASan and UBSan, on the same
# pure C sources; "make fuzz" runs each for FUZZ_SECONDS, "make test" for
# FUZZ_TEST_SECONDS
CLANG        ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 10
FUZZ_TARGETS := answer update json jwt ids
FUZZ_BINS    := $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS))
CFLAGS_FUZZ  := -Wall -Wextra -Werror -g -O1 \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                -Wno-string-concatenation -I$(SRC)

.PHONY: all module setup unit integration test test-asan test-valgrind \
        test-soak test-prometheus fuzz fuzz-build fuzz-run demo install \
        coherence-l1 \
        uninstall bench clean

all: module

setup:
	@scripts/setup

# the developer's build: warnings are errors (WERROR=0 for a user's build)
module:
	@WERROR=$${WERROR:-1} scripts/build

$(BUILD)/unit/%: t/unit/%.c $(UNIT_SRCS) $(wildcard $(SRC)/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_UNIT) -o $@ $< $(UNIT_SRCS) -ljansson -ljwt -lcrypto -lcmocka

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do $$t || exit 1; done

$(BUILD)/fuzz/fuzz_%: t/fuzz/fuzz_%.c t/fuzz/fuzz.h $(UNIT_SRCS) \
                      $(wildcard $(SRC)/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_FUZZ) -o $@ $< $(UNIT_SRCS) -ljansson -ljwt -lcrypto

fuzz-build: $(FUZZ_BINS)

fuzz-run: fuzz-build
	@BUILD=$(BUILD) scripts/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz: setup
	@$(MAKE) --no-print-directory fuzz-run

integration: module
	cd t && $(PYTHON) -m pytest -p no:cacheprovider -q $(PYTEST_ARGS)

test: setup
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_TEST_SECONDS)
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory coherence-l1

# the coherence suite once more, every node with its L1 cache on
# (mcp_cache_l1): the contract must hold with it too
coherence-l1: module
	cd t && MCP_L1=1 $(PYTHON) -m pytest -p no:cacheprovider -q \
		test_coherence.py $(PYTEST_ARGS)

# the metrics through Debian's prometheus package (big, so not make test's):
# promtool on the exposition and the alert rules, a real Prometheus
# scraping the gateway (t/prometheus_check.py, half a minute)
test-prometheus: setup module
	@scripts/setup --prometheus
	cd t && $(PYTHON) -m pytest -p no:cacheprovider -q prometheus_check.py

# the integration suite with the module built with AddressSanitizer
test-asan: setup unit
	@SANITIZE=address WERROR=1 scripts/build
	cd t && MCP_SANITIZE=address $(PYTHON) -m pytest -p no:cacheprovider -q \
		$(PYTEST_ARGS)

# the integration suite with nginx under valgrind (slower: a few minutes);
# not the fault suite, whose loads and 300 ms Redis timeouts mean nothing
# ten times slower
test-valgrind: setup module
	cd t && MCP_VALGRIND=1 $(PYTHON) -m pytest -p no:cacheprovider -q \
		--ignore=test_coherence.py $(PYTEST_ARGS)

# the cache's coherence under Redis faults (Sentinel failover, kill -9,
# restarts, partitions, stalls, reloads) with six times longer loads and
# more rounds: about ten minutes
test-soak: setup module
	cd t && MCP_SOAK=1 $(PYTHON) -m pytest -p no:cacheprovider -q \
		test_coherence.py $(PYTEST_ARGS)

demo: setup module
	@scripts/demo

bench: setup module
	@scripts/bench

# setup first: it installs the runtime libraries too (libjansson4, libjwt0,
# libhiredis0.14, libssl3, with their -dev packages); the snippet names the
# module by its absolute path, right whatever nginx's prefix (-p).  A
# user's build: warnings are not errors.
install: setup
	@WERROR=0 scripts/build
	install -D -m 0644 $(BUILD)/ngx_http_mcp_module.so \
		$(DESTDIR)$(MODULES_DIR)/ngx_http_mcp_module.so
	install -d $(DESTDIR)/usr/share/nginx/modules-available
	echo "load_module $(MODULES_DIR)/ngx_http_mcp_module.so;" \
		> $(DESTDIR)/usr/share/nginx/modules-available/mod-http-mcp.conf
	install -d $(DESTDIR)/etc/nginx/modules-enabled
	ln -sf /usr/share/nginx/modules-available/mod-http-mcp.conf \
		$(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-mcp.conf

uninstall:
	rm -f $(DESTDIR)$(MODULES_DIR)/ngx_http_mcp_module.so \
		$(DESTDIR)/usr/share/nginx/modules-available/mod-http-mcp.conf \
		$(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-mcp.conf

.PHONY: deb test-deb test-nginx-1.26

# the Debian package, built with dpkg-buildpackage and dh_nginx from a clean
# copy of the source and checked by lintian (scripts/package):
# build/deb/libnginx-mod-http-mcp_<version>_<arch>.deb
deb:
	@scripts/package

# the package end to end on this machine's nginx (root: apt-get): install,
# nginx -t, GETs through a mock registry, remove, purge, nothing left
test-deb: deb
	$(PYTHON) t/deb_check.py $(BUILD)/deb/libnginx-mod-http-mcp_*.deb

# the integration suite against nginx 1.26.3 built from source --with-compat,
# the module dynamic: drift of nginx's API shows here (scripts/test-nginx)
test-nginx-1.26: setup
	@scripts/test-nginx 1.26.3

clean:
	rm -rf $(BUILD)
