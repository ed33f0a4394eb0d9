# Two entry points, both safe on a fresh offline machine of this project's kind:
#   make book   install (once), execute the tutorial notebooks on CPU and build the site (tools/book.py;
#               options through BOOK_OPTS, e.g. make book BOOK_OPTS="--out DIR --no-execute")
#   make test   install (once), check that laic_nb/ and nbs/ are as nbdev_export and nbdev_clean write them,
#               run every notebook and the pytest suite
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: book test install

$(STAMP): setup.py settings.ini requirements-lock.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]" -c requirements-lock.txt  # the tested set; the package asks only for ranges
	# optional real images for `laic demo` (Debian's Fashion-MNIST); skipped where apt is not ours
	-[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ ! -d /usr/share/datasets/fashion-mnist ] && \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 || true
	# headless Chromium for the report's screenshots and browser checks (Debian's chromium); skipped where apt is not ours
	-[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v chromium >/dev/null && \
	  (apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)) >/dev/null 2>&1 || true
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(PY) tools/book.py $(BOOK_OPTS)

test: $(STAMP)
	.venv/bin/nbdev_export
	git diff --exit-code --stat -- laic_nb || (echo "laic_nb/ is out of sync with nbs/: run nbdev_export and commit" && false)
	.venv/bin/nbdev_clean
	git diff --exit-code --stat -- nbs || (echo "nbs/ is not as nbdev_clean writes it: run nbdev_clean and commit" && false)
	LAIC_TEST_FLAGS="$${LAIC_TEST_FLAGS-slow}" $(PY) -m pytest -n 2 --dist loadgroup --durations=15 tests
