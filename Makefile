# ngx_http_mcp_module: the developer's and the user's entry points.
#
#   make            build the dynamic module (build/ngx_http_mcp_module.so)
#   make demo       run the demo gateway in the foreground (Ctrl-C stops it)
#   make test       build, then run the unit and the integration tests
#   make test-soak  the fault suite (t/test_coherence.py), six times longer
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

# the pure C parts of the module (no nginx types) and their unit tests
UNIT_SRCS   := $(SRC)/ngx_http_mcp_id.c $(wildcard $(SRC)/ngx_http_mcp_map*.c) \
               $(SRC)/ngx_http_mcp_jwt.c $(SRC)/ngx_http_mcp_json_dump.c
UNIT_TESTS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(wildcard t/unit/test_*.c))

.PHONY: all module setup unit integration test test-asan test-valgrind \
        test-soak demo install uninstall bench clean

all: module

setup:
	@scripts/setup

module:
	@scripts/build

$(BUILD)/unit/%: t/unit/%.c $(UNIT_SRCS) $(wildcard $(SRC)/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_UNIT) -o $@ $< $(UNIT_SRCS) -ljansson -ljwt -lcrypto -lcmocka

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do $$t || exit 1; done

integration: module
	cd t && $(PYTHON) -m pytest -p no:cacheprovider -q $(PYTEST_ARGS)

test: setup
	@$(MAKE) --no-print-directory unit integration

# the integration suite with the module built with AddressSanitizer
test-asan: setup unit
	@SANITIZE=address scripts/build
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

install: module
	install -D -m 0644 $(BUILD)/ngx_http_mcp_module.so \
		$(DESTDIR)$(MODULES_DIR)/ngx_http_mcp_module.so
	install -d $(DESTDIR)/usr/share/nginx/modules-available
	echo "load_module modules/ngx_http_mcp_module.so;" \
		> $(DESTDIR)/usr/share/nginx/modules-available/mod-http-mcp.conf
	install -d $(DESTDIR)/etc/nginx/modules-enabled
	ln -sf /usr/share/nginx/modules-available/mod-http-mcp.conf \
		$(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-mcp.conf

uninstall:
	rm -f $(DESTDIR)$(MODULES_DIR)/ngx_http_mcp_module.so \
		$(DESTDIR)/usr/share/nginx/modules-available/mod-http-mcp.conf \
		$(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-mcp.conf

clean:
	rm -rf $(BUILD)
