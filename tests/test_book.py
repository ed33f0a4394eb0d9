"""Browser check of the rendered book (runs in CI).

Builds the site as `laic book` does (executing every chapter on the CPU; pages cached under
.cache/book/ are reused when neither the notebook nor the package changed), then loads the
index, the NTK chapter (07) and the RAD chapter (09) in headless Chromium and checks the DOM
a reader gets: MathJax typeset the math (<mjx-container> present, no raw $$), images exist
and are image files, relative links resolve, and no script or stylesheet comes from the
network. Every page of the site is also checked statically. Screenshots go to
artifacts/book/ (ignored by git).

Chromium comes from Debian (`apt-get install -y chromium`), installed here when missing
and running as root; otherwise the browser checks are skipped with the reason.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from laic_nb.book import build_book, check_page, figure_screenshot, find_chromium, parse_page, render_page

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "book"
CHAPTERS = {"ntk": "07_", "rad": "09_"}  # chapters the browser check must find, by file prefix


def _install_chromium():
    if find_chromium(): return find_chromium()
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("chromium is not installed and the tests do not run as root: apt-get install -y chromium")
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    res = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, env=env)
    if res.returncode != 0:  # stale package lists on a fresh machine
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env)
        res = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, env=env)
    exe = find_chromium()
    if exe is None: pytest.fail(f"apt-get install chromium failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return exe


def _page(site: Path, key: str) -> Path:
    if key == "index": return site / "index.html"
    found = sorted(site.glob(f"{CHAPTERS[key]}*.html"))
    assert found, f"the {key.upper()} chapter (nbs/{CHAPTERS[key]}*.ipynb) is missing from the built book"
    return found[0]


def test_book_in_a_browser():
    # One test, so that pytest-xdist never builds the site twice at once into the same folder.
    index = build_book(ROOT / "_book", quiet=True)
    site = index.parent

    # every page, statically: nothing from the network, every local URL resolves, images are images
    pages = sorted(site.glob("*.html"))
    assert len(pages) >= 3
    problems = {p.name: check_page(p) for p in pages}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
    assert (site / "_static" / "mathjax" / "tex-svg.js").exists(), "the local MathJax copy is missing"
    with_math = [p for p in pages if any("_static/mathjax/tex-svg.js" in s for s in parse_page(p.read_text())["scripts"])]
    assert with_math, "no page loads the local MathJax"

    # the index, the NTK and the RAD chapters as a reader gets them, after their scripts ran
    chromium = _install_chromium()
    for key in ("index", "ntk", "rad"):
        page = _page(site, key)
        dom = render_page(page, screenshot=ARTIFACTS / f"{page.stem}.png", chromium=chromium)
        assert len(dom) > 1000 and "</html>" in dom.lower(), f"{page.name}: chromium returned no page"
        problems = check_page(page, dom, rendered=True)
        assert not problems, f"{page.name}: {problems}"
        if key == "index": continue
        info = parse_page(dom)
        assert info["n_math"] > 0, f"{page.name}: no MathJax output (<mjx-container>) in the rendered page"
        assert any(u.startswith("_images/") for u in info["images"]), f"{page.name}: no figures"
        assert figure_screenshot(page, ARTIFACTS / f"{page.stem}-figure.png", chromium=chromium) is not None
