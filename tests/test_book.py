"""Tests of the book builder, `tools/book.py`, and of its reader-side checks, `tools/book_check.py`.

The small tests check each step on its own: the table of contents, the MathJax copy, the page form of a toy notebook
made in a child process as in a real build, the output scrubbing and the static page checks (`tools/book_check.py`).

`test_book_in_a_browser` builds the whole site as `make book` does (executing every chapter on the CPU; pages cached
under .cache/book/ are reused when neither the notebook nor the code changed), then loads the index, the NTK chapter
(09) and the RAD chapter (11) in headless Chromium and checks the DOM a reader gets: MathJax typeset the math
(<mjx-container> present, no raw $$), images exist and are image files, relative links resolve, and no script or
stylesheet comes from the network. Every page of the site is also checked statically. Screenshots go to
artifacts/book/ (ignored by git).

Chromium comes from conftest's `chromium` fixture: Debian's `chromium`, installed when missing and running as root;
otherwise the browser checks are skipped with the reason (in CI a missing browser fails).
"""
import fnmatch
import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tools/ is a folder of the repository, not an installed package

from tools.book import (BOOK_PARTS, MATHJAX_COMPONENT, _clean_output, _clean_text, _md_output, book_toc, build_book,
                        doc_name, list_chapters, make_page, mathjax_dir, part_of, project_root)
from tools.book_check import check_page, figure_screenshot, parse_page, render_page

ARTIFACTS = ROOT / "artifacts" / "book"
CHAPTERS = {"ntk": "09_ntk", "rad": "11_rad"}  # chapters the browser check must find, by file prefix


# --- the table of contents ----------------------------------------------------------------------------------------

@pytest.fixture
def toy_chapters(tmp_path):
    for name in ["21_exp_b.ipynb", "09_ntk.ipynb", "00_index.ipynb", "21_exp_a.ipynb", "notes.ipynb", "_draft.ipynb", "9_bad.ipynb"]:
        (tmp_path / name).write_text("{}")
    return list_chapters(tmp_path)


def test_list_chapters(toy_chapters):
    assert [c["stem"] for c in toy_chapters] == ["00_index", "09_ntk", "21_exp_a", "21_exp_b"]
    assert [part_of(c["num"]) for c in toy_chapters] == ["Foundations", "NTK spectral clustering", "Experiments", "Experiments"]
    with pytest.raises(ValueError, match="no notebook folder"): list_chapters("/no/such/folder")
    with pytest.raises(ValueError, match="outside every part"): part_of(100)


def test_a_chapter_number_may_take_a_letter(tmp_path):
    "`18b_name.ipynb` is read right after chapter 18, in its part; one letter only."
    for name in ["19_report.ipynb", "18b_benchmark.ipynb", "18_pipeline.ipynb", "18bb_bad.ipynb", "18B_bad.ipynb"]:
        (tmp_path / name).write_text("{}")
    chapters = list_chapters(tmp_path)
    assert [(c["num"], c["stem"]) for c in chapters] == [(18, "18_pipeline"), (18, "18b_benchmark"), (19, "19_report")]


def test_book_toc(toy_chapters):
    toc = book_toc(toy_chapters)
    assert toc["root"] == "index"
    assert [p["caption"] for p in toc["parts"]] == ["NTK spectral clustering", "Experiments"]
    assert toc["parts"][1]["chapters"] == [dict(file="21_exp_a"), dict(file="21_exp_b")]
    assert doc_name(toy_chapters[0], toy_chapters) == "index" and doc_name(toy_chapters[1], toy_chapters) == "09_ntk"
    with pytest.raises(ValueError, match="nothing to build"): book_toc([])


def test_the_project_chapters_all_have_a_part():
    chapters = list_chapters(ROOT / "nbs")
    assert chapters[0]["stem"] == "00_index"
    prefixes = [c["stem"].split("_")[0] for c in chapters]  # NN, or NNb for a second module in chapter NN's place
    assert len(set(prefixes)) == len(prefixes), f"two chapters share a number: {sorted(p for p in prefixes if prefixes.count(p) > 1)}"
    assert [p["caption"] for p in book_toc(chapters)["parts"]] == [c for c, _, _ in BOOK_PARTS]


def test_quarto_groups_the_chapters_as_the_builder_does():
    "`_quarto.yml` describes the same book for Quarto: every chapter (NN_ or NNb_) is rendered and lands in the same part there as here."
    assert project_root(ROOT / "nbs") == ROOT and project_root() == ROOT
    quarto = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    render, sidebar = quarto["project"]["render"], quarto["website"]["sidebar"]["contents"]
    assert sidebar[0]["href"] == "nbs/00_index.ipynb"
    assert [s["section"] for s in sidebar[1:]] == [caption for caption, _, _ in BOOK_PARTS]
    for n in range(1, 100):
        for name in (f"nbs/{n:02d}_chapter.ipynb", f"nbs/{n:02d}b_chapter.ipynb"):
            assert any(fnmatch.fnmatch(name, g) for g in render), f"{name} is a chapter of tools/book.py, not rendered by _quarto.yml"
            sections = [s["section"] for s in sidebar[1:]
                        if any(fnmatch.fnmatch(name, g) for g in (s["contents"] if isinstance(s["contents"], list) else [s["contents"]]))]
            assert sections == [part_of(n)], f"{name}: {sections} in _quarto.yml, {part_of(n)!r} in tools/book.py"


def test_mathjax_dir():
    es5 = mathjax_dir()
    assert (es5 / MATHJAX_COMPONENT).exists() and (es5 / "input" / "tex" / "extensions").is_dir()


# --- from notebook to page ------------------------------------------------------------------------------------------

def test_outputs_are_scrubbed():
    assert _clean_text(["<Foo at 0x7f3a2b4c5d6e>\n"]) == ["<Foo at 0x...>\n"]
    assert _clean_text("skipped /tmp/tmpq024km75/cut.jpg and '/tmp/tmp_a1b2c3d'\n") == ["skipped /tmp/tmpXXXXXXXX/cut.jpg and '/tmp/tmpXXXXXXXX'\n"]
    assert _clean_text("a\n 50%|#####     | 5/10 [00:01<00:01, 4.8it/s]\nb\n", stderr=True) == ["a\n", "b\n"]
    md = "---\n\n[source](https://github.com/x/y.py#LNone){target=\"_blank\" style=\"float:right\"}\n\n### f\n"
    cleaned = "".join(_clean_output(dict(output_type="display_data", metadata={}, data={"text/markdown": md}))["data"]["text/markdown"])
    assert cleaned == "### f\n"
    assert _md_output("a\n\n---\n\n```yaml\n---\nk: v\n```\n") == "a\n\n<hr>\n\n```yaml\n---\nk: v\n```\n"
    assert _clean_output(dict(output_type="stream", name="stderr", text=["Matplotlib is building the font cache; ...\n"])) is None


def _toy_notebook(path):
    "A small notebook with each kind of cell the page form handles: an export, a hidden cell, a memory address, a figure, a `gpu` cell with a stored output, a `notest` cell without one, an `echo: false` cell and a check of the seeded global generators."
    def code(src, outputs=()): return dict(cell_type="code", execution_count=None, metadata={}, outputs=list(outputs), source=src)
    cells = [dict(cell_type="markdown", metadata={}, source="# Toy chapter\n\nThe sum $$s = \\sum_i x_i$$ is easy."),
             code("#| default_exp toy"), code("#| hide\nSECRET = 42"),
             code("#| export\ndef double(x):\n    \"Twice `x`.\"\n    return 2 * x\n\ndef halve(x):\n    \"Half of `x`.\"\n    return x / 2"),
             code("print(double(SECRET)); object()"),
             code("import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 2)); plt.plot([0, 1]); plt.title('synthetic');"),
             code("#| gpu\nimport torch; torch.ones(1).cuda()",
                  [dict(output_type="stream", name="stdout", text=["ran on a GPU\n"])]),
             code("#| notest\nimport urllib.request; urllib.request.urlopen('https://example.org')"),
             code("#| echo: false\nprint('only the output')"),
             code("import numpy as np, torch  # seeded by the build: the same draws as fresh generators seeded with 0\n"
                  "print(np.array_equal(np.random.rand(3), np.random.RandomState(0).rand(3)),\n"
                  "      torch.equal(torch.rand(3), torch.rand(3, generator=torch.Generator().manual_seed(0))))")]
    Path(path).write_text(json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)))
    return Path(path)


def test_make_page(tmp_path):
    "A page is made in a child process, as in a real build."
    took = make_page(_toy_notebook(tmp_path / "99_toy.ipynb"), tmp_path / "page.ipynb")
    page = json.loads((tmp_path / "page.ipynb").read_text())
    srcs = ["".join(c["source"]) for c in page["cells"]]
    code_srcs = ["".join(c["source"]) for c in page["cells"] if c["cell_type"] == "code"]
    assert not any("SECRET = 42" in s or "#|" in s for s in code_srcs), "hidden cells and directives are gone"
    sd = next(c for c in page["cells"] if "show_doc(double)" in "".join(c["source"]))
    assert sd["metadata"]["tags"] == ["remove-input"]
    assert "### double" in "".join(sd["outputs"][0]["data"]["text/markdown"]) and "[source]" not in "".join(sd["outputs"][0]["data"]["text/markdown"])
    i_src = next(i for i, s in enumerate(srcs) if "def double" in s)
    assert page["cells"][i_src]["metadata"]["tags"] == ["hide-input"]
    assert srcs[i_src - 2:i_src] == ["show_doc(double)", "show_doc(halve)"]  # API sections first, in definition order
    assert page["cells"][i_src - 1]["metadata"]["tags"] == ["remove-input"]
    prints = next(c for c in page["cells"] if "print(double" in "".join(c["source"]))
    assert prints["outputs"][0]["text"] == ["84\n"] and "0x..." in "".join(prints["outputs"][1]["data"]["text/plain"])
    assert any("image/png" in o.get("data", {}) for c in page["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    gpu_i = next(i for i, s in enumerate(srcs) if "cuda()" in s)
    assert page["cells"][gpu_i]["outputs"][0]["text"] == ["ran on a GPU\n"]
    assert took["cpu_s"] > 0 and took["wall_s"] > 0
    assert "CUDA GPU" in srcs[gpu_i + 1] and "stored with the notebook" in srcs[gpu_i + 1]
    net_i = next(i for i, s in enumerate(srcs) if "urlopen" in s)
    assert page["cells"][net_i]["outputs"] == [] and "network" in srcs[net_i + 1]
    assert next(c for c in page["cells"] if "only the output" in "".join(c["source"]))["metadata"]["tags"] == ["remove-input"]
    assert next(c for c in page["cells"] if "manual_seed(0)" in "".join(c["source"]))["outputs"][0]["text"] == ["True True\n"]


def test_make_page_without_execution(tmp_path):
    "Without execution only the API sections are computed."
    make_page(_toy_notebook(tmp_path / "99_toy.ipynb"), tmp_path / "quick.ipynb", execute=False)
    quick = json.loads((tmp_path / "quick.ipynb").read_text())
    by_src = {"".join(c["source"]): c for c in quick["cells"] if c["cell_type"] == "code"}
    assert "### double" in "".join(by_src["show_doc(double)"]["outputs"][0]["data"]["text/markdown"])
    assert by_src["print(double(SECRET)); object()"]["outputs"] == []


def test_a_failing_cell_stops_the_page(tmp_path):
    (tmp_path / "bad.ipynb").write_text(json.dumps(dict(cells=[dict(cell_type="code", execution_count=None, metadata={},
        outputs=[], source="1/0")], metadata={}, nbformat=4, nbformat_minor=5)))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"): make_page(tmp_path / "bad.ipynb", tmp_path / "out.ipynb")


# --- checking pages -------------------------------------------------------------------------------------------------

def test_parse_page():
    pg = parse_page('<link rel="stylesheet" href="_static/a.css"><script src="https://cdn.x/mj.js"></script>'
                    '<p>see $$x$$</p><pre>$$ in code is fine</pre><mjx-container><svg></svg></mjx-container><img src="i.png">')
    assert (pg["styles"], pg["scripts"], pg["images"], pg["n_math"]) == (["_static/a.css"], ["https://cdn.x/mj.js"], ["i.png"], 1)
    assert pg["text"] == "see $$x$$"


def test_check_page(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.css").write_text("p {}")
    (tmp_path / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8))
    (tmp_path / "fake.png").write_text("not an image")
    good = tmp_path / "good.html"
    good.write_text('<link rel="stylesheet" href="_static/a.css"><img src="fig.png"><a href="https://arxiv.org">paper</a>'
                    '<a href="#top">top</a>')
    assert check_page(good) == []
    bad = tmp_path / "bad.html"
    bad.write_text('<script src="https://cdn.x/mj.js"></script><img src="fake.png"><img><a href="gone.html">x</a>')
    problems = check_page(bad)
    assert "network script https://cdn.x/mj.js" in problems and "image without src" in problems
    assert any(p.startswith("image fake.png is not") for p in problems) and any(p.startswith("link gone.html -> missing") for p in problems)
    math = tmp_path / "math.html"
    math.write_text('<div class="math">$$x$$</div>')
    assert "the page has math but no <mjx-container>: MathJax did not run" in check_page(math, math.read_text(), rendered=True)


# --- the whole book in a browser ------------------------------------------------------------------------------------

def _page(site: Path, key: str) -> Path:
    if key == "index": return site / "index.html"
    found = sorted(site.glob(f"{CHAPTERS[key]}*.html"))
    assert found, f"the {key.upper()} chapter (nbs/{CHAPTERS[key]}*.ipynb) is missing from the built book"
    return found[0]


def test_book_in_a_browser(chromium):
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
