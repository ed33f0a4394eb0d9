"""Check the book as a reader sees it: the pages `tools/book.py` built, read as HTML and rendered in a browser.

A page can build without error and still be broken for a reader: an equation left as $$...$$, an image that points
nowhere, a stylesheet on a CDN. The checks read a page's HTML (`parse_page`, `check_page`), and the HTML headless
Chromium has after running the page's scripts, when MathJax has replaced each formula with an <mjx-container>
(`render_page`); `figure_screenshot` shows a chapter's first figure. Nothing here builds or changes a page: the
builder is `tools/book.py`, which does not import this file. Used by `tests/test_book.py`:

    from tools.book_check import check_page, render_page
    check_page("_book/_build/html/index.html")  # [] when the page is fine

This is a tool of the repository, not part of the `laic_nb` package.
"""
from __future__ import annotations
import html.parser, re, tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from laic_nb.gallery import run_chromium


class _PageParser(html.parser.HTMLParser):
    "Collect script/stylesheet/image/link URLs, MathJax containers and the text outside code, pre and scripts."
    _opaque = {"script", "style", "pre", "code", "mjx-container", "svg", "textarea"}
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self.styles, self.images, self.links, self.text, self.n_math, self._skip = [], [], [], [], [], 0, []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"): self.scripts.append(a["src"])
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"): self.styles.append(a["href"])
        if tag == "img": self.images.append(a.get("src") or "")
        if tag == "a" and a.get("href"): self.links.append(a["href"])
        if tag == "mjx-container": self.n_math += 1
        if tag in self._opaque: self._skip.append(tag)
    def handle_endtag(self, tag):
        if tag in self._skip: del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag):]
    def handle_data(self, data):
        if not self._skip: self.text.append(data)


def parse_page(
    html_text: str, # a page's HTML
) -> dict: # `scripts`, `styles`, `images`, `links` (URLs), `n_math` (MathJax outputs), `text` (outside code)
    "What a page loads and shows."
    p = _PageParser(); p.feed(html_text); p.close()
    return dict(scripts=p.scripts, styles=p.styles, images=p.images, links=p.links, n_math=p.n_math, text="".join(p.text))


def _is_network(url: str) -> bool: return url.startswith(("http://", "https://", "//"))


def _is_image(path: Path) -> bool:
    head = Path(path).read_bytes()[:512]
    return head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8")) or b"<svg" in head


def _local_target(page: Path, url: str) -> Path | None:
    "The file a relative `url` on `page` points at, or None for anchors, data URLs and other schemes."
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path: return None
    return (page.parent/unquote(parts.path)).resolve()


# Local URLs must point at files of the site; a network URL for a script or a stylesheet is a problem in itself (links
# to papers are fine: a reader follows them, the page does not load them). With `rendered=True` the HTML is the
# browser's, after MathJax ran: no raw $$ may remain, and a page whose source has math must contain MathJax output.

def check_page(
    page, # a built page (.html)
    html_text: str | None = None, # the HTML to check (default: the file; pass the browser's DOM with `rendered=True`)
    rendered: bool = False, # True: `html_text` is the DOM after the page's scripts ran
) -> list[str]: # the problems a reader would hit; empty when the page is fine
    "Problems of the built page `page`: network scripts or stylesheets, missing local targets, non-images, untypeset math."
    page = Path(page)
    info = parse_page(html_text if html_text is not None else page.read_text(encoding="utf-8"))
    problems = [f"network {kind} {u}" for kind, us in (("script", info["scripts"]), ("stylesheet", info["styles"]))
                for u in us if _is_network(u)]
    for kind, urls in (("script", info["scripts"]), ("stylesheet", info["styles"]), ("image", info["images"]), ("link", info["links"])):
        for u in urls:
            if kind == "image" and not u: problems.append("image without src"); continue
            t = _local_target(page, u)
            if t is not None and not t.exists(): problems.append(f"{kind} {u} -> missing {t}")
            elif kind == "image" and t is not None and not _is_image(t): problems.append(f"image {u} is not a PNG/JPEG/GIF/SVG file")
    if rendered:
        if "$$" in info["text"]: problems.append("raw $$ left in the rendered text (MathJax did not typeset it)")
        src_info = parse_page(page.read_text(encoding="utf-8"))
        if ('class="math' in page.read_text(encoding="utf-8") or "\\(" in src_info["text"]) and info["n_math"] == 0:
            problems.append("the page has math but no <mjx-container>: MathJax did not run")
    return problems


# Chromium (Debian's `chromium`) renders a page headless through the report's own runner (`laic_nb.gallery.run_chromium`):
# `--dump-dom` prints the DOM after scripts ran, `--virtual-time-budget` lets timers and MathJax finish first, and
# network features are off so nothing leaves the machine.

def _chromium(page, extra: list, chromium: str | None = None, budget_ms: int = 10000, size=(1280, 1400)) -> str:
    return run_chromium(page, "", extra, size, chromium, budget_ms)


def render_page(
    page, # a built page (.html)
    screenshot=None, # where to save a PNG of the page's first window (None: no screenshot)
    chromium: str | None = None, # the browser (default: `find_chromium()`)
    budget_ms: int = 10000, # virtual time the page's scripts get before the dump
    size=(1280, 1400), # window width and height in pixels
) -> str: # the DOM after the page's scripts ran
    "The DOM of `page` as headless Chromium has it; optionally a screenshot."
    dom = _chromium(page, ["--dump-dom"], chromium, budget_ms, size)
    if screenshot is not None:
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        _chromium(page, [f"--screenshot={Path(screenshot).resolve()}"], chromium, budget_ms, size)
    return dom


# A screenshot shows one window: the top of the page. To show a chapter's figures as well, a probe copy of the page
# (same folder, same scripts, one extra script) reports the page length and where its first figure sits once
# everything ran; the page is then shot in a window that tall and cropped to a window around the figure.
_PROBE_JS = """<script>window.addEventListener("load", function () { setTimeout(function () {
  var img = document.querySelector('article img[src^="_images/"]') || document.querySelector('img[src^="_images/"]');
  document.body.setAttribute("data-laic-height", document.documentElement.scrollHeight);
  if (img) document.body.setAttribute("data-laic-figure", Math.round(img.getBoundingClientRect().top + window.scrollY));
}, 1000); });</script>"""


def figure_screenshot(
    page, # a built page (.html)
    screenshot, # where to save the PNG
    chromium: str | None = None, # the browser (default: `find_chromium()`)
    size=(1280, 1400), # width and height of the PNG in pixels
    budget_ms: int = 10000, # virtual time the page's scripts get
) -> int | None: # the first figure's offset from the top of the page in pixels, or None if the page has no figure
    "Save a `size` PNG of `page` around its first figure (`_images/...`)."
    page = Path(page)
    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE_JS + "</body>", 1), encoding="utf-8")
    try: dom = _chromium(probe, ["--dump-dom"], chromium, budget_ms, size)
    finally: probe.unlink()
    fig, height = re.search(r'data-laic-figure="(\d+)"', dom), re.search(r'data-laic-height="(\d+)"', dom)
    if fig is None: return None
    top = max(0, int(fig.group(1)) - 120)
    bottom = min(int(height.group(1)), top + size[1], 16000)
    from PIL import Image
    with tempfile.TemporaryDirectory() as d:
        tall = Path(d)/"tall.png"
        _chromium(page, [f"--screenshot={tall}"], chromium, budget_ms, (size[0], bottom))
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        with Image.open(tall) as im: im.crop((0, min(top, bottom - 1), size[0], bottom)).save(screenshot)
    return int(fig.group(1))
