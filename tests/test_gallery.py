"""report.html (laic_nb.gallery): offline, escaped, bounded, and clean in a real browser.

The exploration is a real one (`explore.explore` on synthetic VL blobs) whose cluster names and image paths are then
made hostile: an HTML tag with an event handler, quotes, an entity, non-ASCII. The page must show them as text, in the
static file and in the DOM headless Chromium builds after the page's script ran.
"""
import html
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from laic_nb import gallery
from laic_nb.core import LaicInputError
from laic_nb.data import make_colour_images, make_vl_blobs
from laic_nb.explore import Exploration, explore

EVIL = '<img src=x onerror=alert(1)>'
EVIL_NAME = EVIL + ' "quoted" &amp; café_ß_日本'
EVIL_PATHS = [f"photos/{EVIL}.jpg", 'photos/"quoted" name.jpg', "photos/&amp; it's.jpg", "photos/café_ß_日本.jpg"]
N, K = 240, 4


def _tags(text: str) -> list:
    "Every start tag of an HTML text as (tag, {attribute: value})."
    class P(HTMLParser):
        def __init__(self): super().__init__(); self.tags = []
        def handle_starttag(self, tag, attrs): self.tags.append((tag, dict(attrs)))
    p = P(); p.feed(text); return p.tags


def _no_live_markup(text: str):
    "No <img> with src x and no event-handler attribute anywhere: hostile names stayed text."
    tags = _tags(text)
    assert not [a for t, a in tags if t == "img" and a.get("src") == "x"], "an <img src=x> element exists"
    assert not [(t, a) for t, a in tags if any(k.lower().startswith("on") for k in a)], "an on* attribute exists"


def _network_refs(text: str) -> list:
    "Everything in the text that would load from or point at a network."
    pats = [r"https?:", r"@import", r"(?:src|href|action|srcset)\s*=\s*[\"']?\s*//", r"url\(\s*[\"']?\s*//", r"@font-face"]
    return [m.group(0) for p in pats for m in re.finditer(p, text, re.I)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    b = make_vl_blobs(N, K, 64, 60, random_state=0)
    ex = explore(b.image_features, b.labels, noun_features=b.text_features, nouns=b.nouns, labels_true=b.labels,
                 class_names=["cat", "<b>dog</b>", "bird", "fish"])
    biggest = max(ex.cluster_ids, key=ex.size)
    ex.names[biggest] = EVIL_NAME
    paths = EVIL_PATHS + [f"photos/img_{i:04d}.jpg" for i in range(len(EVIL_PATHS), N)]
    images, _ = make_colour_images(N // 10 + 1, random_state=0)
    unreadable = int(ex.order[biggest][0])  # the most typical image of the largest cluster cannot be read

    def thumbnail(i):
        if i == unreadable: raise OSError("truncated file")
        return images[i]

    facts = dict(method="ntk-rad", model="laic-tiny <test>", weights="random", random_weights=True, n_images=N, k=K,
                 timings=dict(features=1.25, cluster=0.5), command=f"laic cluster 'photos/{EVIL}'")
    out = tmp_path_factory.mktemp("gallery") / "report.html"
    gallery.write_report(out, ex, paths, thumbnail, title=f"Clusters of {EVIL}", facts=facts, progress=False)
    return dict(ex=ex, paths=paths, page=out, text=out.read_text(encoding="utf-8"), biggest=biggest, thumbnail=thumbnail,
                unreadable=unreadable)


def test_page_is_offline_and_escaped(run):
    text, ex = run["text"], run["ex"]
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not _network_refs(text), _network_refs(text)
    assert "default-src 'none'" in text  # the page's own policy forbids every load
    _no_live_markup(text)
    assert html.escape(EVIL_NAME) in text and html.escape(EVIL_PATHS[0]) in text and html.escape("café_ß_日本") in text
    assert "<title>Clusters of &lt;img src=x onerror=alert(1)&gt;</title>" in text
    assert "laic-tiny &lt;test&gt;" in text and "RANDOM weights" in text
    # the JSON data block: no tag can end it early, and it reads back to the same names and paths
    block = re.search(r'<script type="application/json" id="laic-data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    data = json.loads(block)
    assert data["paths"] == run["paths"] and data["n"] == N
    assert {c["id"]: c["name"] for c in data["clusters"]}[run["biggest"]] == EVIL_NAME
    # one <script> that runs, one data block, and nothing else executable
    scripts = [a for t, a in _tags(text) if t == "script"]
    assert len(scripts) == 2 and sum(a.get("type") == "application/json" for a in scripts) == 1
    # sections, flags, counts
    for c in ex.cluster_ids: assert f'id="cluster-{c}"' in text
    for hook in ('id="overview"', 'id="map"', 'id="k"', 'id="classes"', "<canvas", "&lt;b&gt;dog&lt;/b&gt;"):
        assert hook in text, hook
    shown = {i for a, b in gallery.thumbnail_plan(ex).values() for i in a + b}
    assert text.count("data:image/jpeg") == len(shown) - 1  # every shown image once, except the unreadable one ...
    assert f'class="th ph" href="#map/hover={run["unreadable"]}"' in text  # ... which is a grey placeholder
    assert "unsafe-eval" not in text and "innerHTML" not in text


def test_page_states_its_size_and_bounds(run):
    text, size = run["text"], run["page"].stat().st_size
    assert f"This file: {gallery._human_bytes(size)}." in text
    assert "at most 24 most typical and 6 least typical thumbnails per cluster" in text


def _dom(page, view, chromium):
    dom = gallery.dump_dom(page, view, chromium=chromium)
    root = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-laic-ready="1"' in root, f"#{view}: the script did not finish: {root}"
    assert 'data-laic-errors="0"' in root, f"#{view}: script errors: {root}"
    _no_live_markup(dom)
    return dom


def _text_of(dom: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert m, f"no #{element_id} in the DOM"
    return html.unescape(m.group(1))


def test_page_in_chromium(run, chromium, tmp_path):
    page, ex = run["page"], run["ex"]
    dom = _dom(page, "overview", chromium)
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom  # the hostile name is text in the live DOM
    # the map with the tooltip of the image whose path is an <img> tag, without a mouse
    dom = _dom(page, "map/hover=0", chromium)
    tip = re.search(r'<div id="tip"[^>]*>', dom).group(0)
    assert "hidden" not in tip, "the tooltip is not shown"
    assert _text_of(dom, "tip-path") == EVIL_PATHS[0]
    c0 = int(ex.labels[0])
    assert _text_of(dom, "tip-name") == f"cluster {c0}: {ex.names[c0]}"
    assert re.search(r'id="tip-thumb" class="th r0"', dom)
    # a cluster's section: its own view shown, the others hidden
    c = run["biggest"]
    dom = _dom(page, f"cluster-{c}", chromium)
    assert re.search(rf'<section id="cluster-{c}" class="view">', dom) and re.search(r'<section id="overview" class="view" hidden', dom)
    # a screenshot that is not blank
    from PIL import Image
    png = gallery.screenshot(page, tmp_path / "map.png", "map/hover=0", chromium=chromium)
    a = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert a.shape == (900, 1280) and a.std() > 10, a.std()


def test_bounds_at_20k_images(tmp_path):
    # 20k images in 50 clusters, made-up facts (no projection needed): thumbnails and file size stay bounded
    n, k = 20_000, 50
    rng = np.random.default_rng(0)
    labels = rng.integers(0, k, n); labels[:k] = np.arange(k)
    typ = rng.random(n).astype(np.float32)
    order = {c: (r := np.flatnonzero(labels == c))[np.argsort(-typ[r], kind="stable")] for c in range(k)}
    ex = Exploration(labels=labels, names={c: f"noun{c} <{c}>" for c in range(k)}, name_confidence={c: 0.5 for c in range(k)},
                     name_nouns={c: [(f"noun{c}", 0.5)] for c in range(k)}, typicality=typ, order=order, outlier=typ < 0.05,
                     duplicate_of=np.where(np.arange(n) % 97 == 1, 0, -1), xy=rng.normal(size=(n, 2)).astype(np.float32),
                     guidance=None, contingency=None, metrics=None, settings={"projection": "made up"})
    paths = [f"/data/photos/folder_{i % 40}/image_{i:06d}.jpg" for i in range(n)]
    tiles = rng.integers(0, 255, (64, 48, 48, 3), dtype=np.uint8)  # noise: the worst case for JPEG
    out = gallery.write_report(tmp_path / "report.html", ex, paths, lambda i: tiles[i % 64], max_thumbnails=1000, progress=False)
    text = out.read_text(encoding="utf-8")
    assert text.count("data:image/") <= 1000 and text.count("data:image/") >= 1000 - k
    assert out.stat().st_size < 5_000_000, out.stat().st_size
    assert "+ " in text and "more images (all in labels.csv)" in text and "not computed" in text
    assert 'id="classes"' not in text  # no class labels: no classes section
    data = json.loads(re.search(r'id="laic-data">(.*?)</script>', text, re.S).group(1))
    assert len(data["paths"]) == n  # under the hover_paths bound: every path
    # with the defaults a 20k page holds 30 thumbnails per cluster
    assert sum(len(a) + len(b) for a, b in gallery.thumbnail_plan(ex).values()) == 50 * 30


def test_paths_beyond_the_hover_bound(run):
    text = gallery.render_report(run["ex"], run["paths"], run["thumbnail"], hover_paths=100, max_thumbnails=20, progress=False)
    data = json.loads(re.search(r'id="laic-data">(.*?)</script>', text, re.S).group(1))
    assert 0 < len(data["paths"]) <= 20 and data["path_rows"] is not None
    assert "paths are shown on hover for the images with a thumbnail only" in text.lower()


def test_no_guidance_no_classes_and_bad_input(run):
    ex = run["ex"]
    bare = Exploration(**{**ex.__dict__, "guidance": None, "contingency": None, "metrics": None})
    text = gallery.render_report(bare, run["paths"], lambda i: None, progress=False)
    assert "K guidance was not computed" in text and 'id="classes"' not in text and "data:image" not in text
    with pytest.raises(LaicInputError, match="paths has 3 entries"):
        gallery.render_report(ex, run["paths"][:3], run["thumbnail"])
    with pytest.raises(LaicInputError, match="thumb_px"):
        gallery.render_report(ex, run["paths"], run["thumbnail"], thumb_px=2)


def test_overview_fragment(run):
    frag = gallery.overview_html(run["ex"], run["paths"], run["thumbnail"], per_cluster=3, max_clusters=2,
                                 facts=dict(method="ntk-rad", random_weights=True))
    assert "<script" not in frag and "<style" not in frag and "RANDOM weights" in frag
    assert f"+ {K - 2} more clusters" in frag and html.escape(EVIL_NAME) in frag
    _no_live_markup(frag)
    assert not _network_refs(frag)
    imgs = [a["src"] for t, a in _tags(frag) if t == "img"]
    assert 0 < len(imgs) <= 6 and all(s.startswith("data:image/jpeg;base64,") for s in imgs)


def test_screenshot_without_a_browser(run, monkeypatch, tmp_path):
    monkeypatch.setattr(gallery, "find_chromium", lambda: None)
    with pytest.raises(LaicInputError, match="apt-get install chromium"):
        gallery.screenshot(run["page"], tmp_path / "x.png")
