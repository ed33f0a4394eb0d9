"""`laic cluster` on a hostile folder, read back as a user would: unreadable images, the same file name in every class
folder, non-ASCII folder and file names, an exact copy of one image, and a file called `<img src=x onerror=alert(1)>.jpg`.

The run must finish, list what it skipped, flag the copy as a near-duplicate of its original, write the names into
labels.csv as they are, and show every name in report.html as text: no element, attribute or script made from a file
name, and the page's own script runs without error in a browser. Tiny random-weights model, generated images; nothing
reads ../shared or the network."""
import csv
import html.parser
import json
import subprocess
from pathlib import Path

import pytest

from conftest import laic_cmd

EVIL = "<img src=x onerror=alert(1)>.jpg"
TINY = ["--model", "laic-tiny", "--pretrained", "none", "--nouns", "40", "--quiet"]


@pytest.fixture(scope="module")
def hostile_run(image_folder, tmp_path_factory):
    root = image_folder(["red", "grün", "blue"], 8, ".jpg")  # every class holds 00.jpg ... 07.jpg: duplicate names
    (root / "grün" / "ÿ_日本_café.jpg").write_bytes((root / "grün" / "01.jpg").read_bytes())  # non-ASCII name (a copy)
    (root / "red" / EVIL).write_bytes((root / "red" / "02.jpg").read_bytes())  # a hostile name (a copy as well)
    (root / "blue" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "blue" / "truncated.jpg").write_bytes((root / "blue" / "00.jpg").read_bytes()[:120])
    out = tmp_path_factory.mktemp("run")
    res = subprocess.run(laic_cmd("cluster", root, "--method", "kmeans", "--k", "3", "--out", out,
                                  "--cache", tmp_path_factory.mktemp("cache"), *TINY),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return root, out, res


def test_outputs_are_read_back(hostile_run):
    root, out, res = hostile_run
    rows = list(csv.DictReader((out / "labels.csv").open(encoding="utf-8")))
    by_name = {Path(r["path"]).name: r for r in rows}
    assert len(rows) == 26  # 24 + the two copies; the two unreadable files are skipped
    assert EVIL in by_name and "ÿ_日本_café.jpg" in by_name
    assert sum(Path(r["path"]).name == "00.jpg" for r in rows) == 3  # one per class folder, told apart by their paths
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    skipped = {Path(s["path"]).name for s in report["skipped"]}
    assert {"broken.jpg", "truncated.jpg"} <= skipped and "broken.jpg" in res.stderr
    # the exact copies are near-duplicates of their originals (pixel-identical files: cosine 1 under any model)
    assert Path(by_name[EVIL]["duplicate_of"]).name == "02.jpg" or Path(by_name["02.jpg"]["duplicate_of"]).name == EVIL
    dup_pairs = {(Path(r["path"]).name, Path(r["duplicate_of"]).name) for r in rows if r["duplicate_of"]}
    assert any("ÿ_日本_café.jpg" in pair for pair in dup_pairs), dup_pairs
    for r in rows:
        assert 0 <= float(r["typicality"]) <= 1 and r["outlier"] in ("0", "1")
    assert report["explore"]["n_duplicates"] >= 2 and report["outputs"]["html"].endswith("report.html")


class _Tags(html.parser.HTMLParser):
    "Every start tag with its attributes."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
    def handle_starttag(self, tag, attrs): self.tags.append((tag, dict(attrs)))


def test_report_shows_names_as_text(hostile_run):
    _, out, _ = hostile_run
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    p = _Tags(); p.feed(text)
    assert not [t for t, a in p.tags if t == "img" and a.get("src") == "x"]
    assert not [a for _, a in p.tags if any(k.startswith("on") for k in a)], "an event-handler attribute in the page"
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in text or "\\u003cimg src=x onerror=alert(1)\\u003e.jpg" in text
    assert "ÿ_日本_café.jpg" in text or "\\u00ff_\\u65e5\\u672c_caf\\u00e9.jpg" in text


def test_report_runs_cleanly_in_a_browser(hostile_run, chromium):
    from laic_nb.gallery import dump_dom
    _, out, _ = hostile_run
    page = out / "report.html"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader((out / "labels.csv").open(encoding="utf-8")))
    evil_row = next(i for i, r in enumerate(rows) if Path(r["path"]).name == EVIL)
    for view in ("overview", f"map/hover={evil_row}", f"cluster-{report['clusters'][0]['id']}"):
        dom = dump_dom(page, view, chromium=chromium)
        assert 'data-laic-ready="1"' in dom and 'data-laic-errors="0"' in dom, view
        p = _Tags(); p.feed(dom)
        assert not [t for t, a in p.tags if t == "img" and a.get("src") == "x"], view
        assert not [a for _, a in p.tags if any(k.startswith("on") for k in a)], view
        if view.startswith("map"): assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in dom  # the tooltip shows it as text
