"""Build this project's book: an offline, executed, checked website made from the chapter notebooks in `nbs/`.

    .venv/bin/python tools/book.py                   # what `make book` runs: execute every chapter, build _book/
    .venv/bin/python tools/book.py --no-execute      # quick: run only what the API sections need
    .venv/bin/python tools/book.py --out DIR --force # elsewhere, ignoring the page cache in .cache/book/

The project is read as a book: each chapter is a notebook that explains one component, exports it into the
`laic_nb` package and tests it. The site is the reader's copy, so it must show what the code of this commit *does*.
Four rules follow:

1. Executed when built. No notebook stores outputs in git; every chapter runs on a CPU while the site builds.
   `#| gpu` cells (need CUDA) and `#| notest` cells (need a network or real CLIP weights) are not run: they keep
   whatever output was stored with them, and a note on the page says why.
2. Offline. The build machines reach only package registries. Jupyter Book 1.x (Sphinx) builds without a network;
   its one remote dependency, MathJax, is installed once with npm and served from a copy inside the site.
3. nbdev's view of a notebook. `#| hide` cells disappear, directive comments are stripped, and every exported
   function gets an API section rendered by nbdev's `show_doc`, as `nbdev_docs` would with Quarto.
4. Reproducible. Each chapter runs in a fresh Python process with a fixed hash seed and seeded global generators;
   cell ids and execution counts are renumbered; memory addresses, temporary names and progress bars are scrubbed.

Quarto would be nbdev's usual route (`_quarto.yml` describes the same book for readers who have it), but it cannot
be installed offline. This is a tool of the repository, not part of the `laic_nb` package: it imports nothing from
`laic_nb` (the chapters it executes do). What checks a built site (links, local files, MathJax in a browser) is
`tools/book_check.py`; the tests of both are `tests/test_book.py`.
"""
from __future__ import annotations
import hashlib, importlib.abc, importlib.util, json, os, re, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# --- The table of contents ----------------------------------------------------------------------------------------
# Chapters are the notebooks `NN_name.ipynb` directly in `nbs/`; the two-digit number fixes the reading order and the
# part of the book. Notebook 00 is the landing page. The list is read from disk on every build, so the book has exactly
# the chapters that exist; no chapter is named anywhere in this file.

BOOK_PARTS = (  # (caption, first chapter number, last chapter number); `_quarto.yml` groups the chapters the same way
    ("Foundations", 0, 8),
    ("NTK spectral clustering", 9, 13),
    ("Relational signals and semantic centers", 14, 15),
    ("Using it", 16, 20),
    ("Experiments", 21, 29),
    ("Performance", 30, 99),
)
_re_chapter = re.compile(r"^(\d{2})[a-z]?_([A-Za-z0-9][A-Za-z0-9_\-]*)\.ipynb$")  # 18b_x: a second module of chapter 18's part


def list_chapters(
    nbs_path, # folder holding the chapter notebooks
) -> list[dict]: # one dict per chapter in book order: `num` (int), `stem` (file name without .ipynb), `path`
    "The chapter notebooks `NN_name.ipynb` in `nbs_path`, in book order."
    nbs_path = Path(nbs_path)
    if not nbs_path.is_dir(): raise ValueError(f"no notebook folder at {nbs_path}: pass nbs_path= or run from the project")
    found = [(int(m.group(1)), p.stem, p) for p in nbs_path.glob("*.ipynb") if (m := _re_chapter.match(p.name))]
    return [dict(num=n, stem=s, path=p) for n, s, p in sorted(found, key=lambda o: (o[0], o[1]))]


def part_of(
    num: int, # a chapter number (the NN of NN_name.ipynb)
) -> str: # the caption of its part in `BOOK_PARTS`
    "Caption of the part of the book that chapter number `num` belongs to."
    for caption, lo, hi in BOOK_PARTS:
        if lo <= num <= hi: return caption
    raise ValueError(f"chapter number {num} is outside every part of BOOK_PARTS")


# Jupyter Book reads its table of contents from `_toc.yml` (sphinx-external-toc, format `jb-book`): a root page, then
# parts with a caption and a list of files. The first chapter becomes the root, renamed `index` so that the site opens
# on it; the others keep their notebook names (`09_ntk.ipynb` -> `09_ntk.html`). Empty parts are left out.

def book_toc(
    chapters: list[dict], # chapters from `list_chapters`
) -> dict: # the content of `_toc.yml`
    "Jupyter Book's table of contents for `chapters`; the first one is the root `index`."
    if not chapters: raise ValueError("no chapter notebooks (NN_name.ipynb) found: nothing to build")
    parts = {}
    for ch in chapters[1:]: parts.setdefault(part_of(ch["num"]), []).append(dict(file=ch["stem"]))
    order = [caption for caption, _, _ in BOOK_PARTS]
    return dict(format="jb-book", root="index",
                parts=[dict(caption=c, chapters=parts[c]) for c in order if c in parts])


def doc_name(
    chapter: dict, # one chapter from `list_chapters`
    chapters: list[dict], # all of them
) -> str: # `index` for the first chapter, the notebook stem otherwise
    "Page name of `chapter` in the built site."
    return "index" if chapter["stem"] == chapters[0]["stem"] else chapter["stem"]


def project_root(
    path=None, # where to start looking (default: the clone this file is in)
) -> Path: # the folder holding laic_nb's `settings.ini`
    "The clone of laic_nb that contains `path`, found by its `settings.ini`."
    start = Path(path or Path(__file__).parent).resolve()
    for d in [start, *start.parents]:
        if (d/"settings.ini").is_file() and re.search(r"^lib_name\s*=\s*laic_nb\s*$", (d/"settings.ini").read_text(), re.M):
            return d
    raise ValueError(f"no laic_nb settings.ini found above {start}: run this from a clone of laic_nb")


# --- MathJax without a CDN ------------------------------------------------------------------------------------------
# Sphinx loads MathJax from a CDN unless `mathjax_path` says otherwise, and a page opened offline then shows raw LaTeX.
# MathJax 3 comes from the npm registry once (pinned, about 24 MB, cached under the project's .cache/); the build copies
# its `es5` folder to `_static/mathjax/`. The `tex-svg` component draws glyphs as paths, so it needs no web fonts (which
# a browser may refuse to load from file:// URLs). `LAIC_MATHJAX_DIR` pointing at an `es5` folder skips npm.

MATHJAX_VERSION = "3.2.2"
MATHJAX_COMPONENT = "tex-svg.js"


def mathjax_dir(
    cache_dir=None, # where npm installs MathJax (default: .cache/mathjax/ of the project)
    version: str = MATHJAX_VERSION, # the MathJax 3 release
) -> Path: # MathJax's `es5` folder
    "MathJax 3's `es5` folder: `$LAIC_MATHJAX_DIR`, or installed once with npm into `cache_dir`."
    if os.environ.get("LAIC_MATHJAX_DIR"):
        es5 = Path(os.environ["LAIC_MATHJAX_DIR"])
        if not (es5/MATHJAX_COMPONENT).exists():
            raise ValueError(f"LAIC_MATHJAX_DIR={es5} has no {MATHJAX_COMPONENT}: point it at MathJax 3's es5 folder")
        return es5
    prefix = Path(cache_dir or project_root()/".cache"/"mathjax")/f"mathjax-{version}"
    es5 = prefix/"node_modules"/"mathjax"/"es5"
    if (es5/MATHJAX_COMPONENT).exists(): return es5
    npm = shutil.which("npm")
    if npm is None: raise RuntimeError("npm not found: install Node.js/npm (Debian: apt-get install npm) or set LAIC_MATHJAX_DIR")
    prefix.mkdir(parents=True, exist_ok=True)
    res = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save",
                          "--no-package-lock", "--loglevel=error", f"mathjax@{version}"], capture_output=True, text=True)
    if res.returncode != 0 or not (es5/MATHJAX_COMPONENT).exists():
        raise RuntimeError(f"npm install mathjax@{version} failed (is the npm registry reachable?):\n{res.stderr[-2000:]}")
    return es5


# --- From notebook to page ------------------------------------------------------------------------------------------
# Three steps, in one fresh Python process per chapter:
# 1. nbdev's processors: directives parsed and stripped; `add_show_docs` puts a `show_doc(f)` cell after each export.
# 2. Execution with execnb's `CaptureShell` (what `nbdev_test` uses), in the notebook's folder, cell by cell. Cells
#    with a skip flag (`gpu`, `notest`) or `#| eval: false` are left as they are. Without `execute` (a quick build)
#    only exported cells, cells made only of imports and `show_doc` cells run, so the API sections still render.
# 3. Page form for MyST-NB: hidden cells dropped; `show_doc` cells keep only their output and come first; the exported
#    code they document follows, folded behind a "show code" toggle; skipped cells get a note.

SKIP_FLAGS = ("gpu", "notest")
SKIP_NOTES = {
    "gpu": "This cell needs a CUDA GPU (`#| gpu`), so it was not run when this book was built on a CPU.",
    "notest": "This cell needs a network connection or real model weights (`#| notest`), so it was not run when this book was built offline.",
}
_HIDE_DIRS = {"hide", "default_exp"}
_FOLD_DIRS = {"export", "exporti"}
_re_quarto = re.compile(r"^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")
_re_source_link = re.compile(r"^\[source\]\([^)]*\)\{[^}]*\}\s*$", re.MULTILINE)
_re_address = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
_re_tmpname = re.compile(r"(?<=/)tmp[a-z0-9_]{8}(?=[/\s'\":)]|$)")  # tempfile.mkdtemp/mkstemp names: random per run
_re_progress = re.compile(r"(\d+/\d+\s*\[\d|\bit/s\]|s/it\]|Matplotlib is building the font cache)")


def prepare_nb(
    path, # a notebook file
) -> dict: # execnb's notebook (an AttrDict), ready for `execute_nb`
    "Read the notebook at `path` with nbdev: directives parsed and stripped, `show_doc` cells added after exports."
    from execnb.nbio import read_nb
    from nbdev.process import NBProcessor
    from nbdev.processors import populate_language, add_show_docs, hide_line
    nb = read_nb(path)
    NBProcessor(nb=nb, procs=[populate_language, add_show_docs, hide_line], rm_directives=True).process()
    cells, i = nb.cells, 0
    while i < len(cells):  # add_show_docs inserts a cell's show_docs last-first: put them back in definition order
        j = i
        while j < len(cells) and getattr(cells[j], "has_sd", False): cells[j].directives_ = {"show_doc": []}; j += 1
        cells[i:j] = cells[i:j][::-1]
        i = j + 1
    return nb


def _wants_run(cell, execute: bool, skip_flags) -> tuple[bool, list]:
    "Whether `cell` runs, and the skip flags that stop it."
    if cell.cell_type != "code" or not cell.source.strip(): return False, []
    d = cell.directives_ or {}
    skipped = [f for f in skip_flags if f in d]
    if skipped or d.get("eval:", [""])[0].lower() == "false": return False, skipped
    if execute: return True, []
    if d.keys() & {"export", "exports", "exporti", "exec_doc", "show_doc"}: return True, []
    import ast
    try: tree = ast.parse(cell.source)
    except SyntaxError: return False, []
    return bool(tree.body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body), []


class _SeedOnImport(importlib.abc.MetaPathFinder):
    "Seed torch's global generator the moment a notebook first imports torch (so chapters without torch never pay for it)."
    def __init__(self, seed: int): self.seed = seed
    def find_spec(self, name, path=None, target=None):
        if name != "torch": return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run, seed = spec.loader.exec_module, self.seed
        def exec_module(module): run(module); module.manual_seed(seed)
        spec.loader.exec_module = exec_module
        return spec


def seed_everything(
    seed: int = 0, # the seed of every global generator
) -> None:
    "Fix this process's global random generators: `random`, numpy's legacy global one, and torch's once it is imported."
    import random, numpy as np
    random.seed(seed); np.random.seed(seed)
    if "torch" in sys.modules: sys.modules["torch"].manual_seed(seed)
    elif not any(isinstance(f, _SeedOnImport) for f in sys.meta_path): sys.meta_path.insert(0, _SeedOnImport(seed))


def execute_nb(
    nb, # a notebook from `prepare_nb`
    cwd=None, # folder the cells run in (default: the working directory)
    execute: bool = True, # False: run only exported cells, import-only cells and `show_doc` cells
    skip_flags=SKIP_FLAGS, # directives whose cells are not run
    allow_errors: bool = False, # True: keep going after a failing cell (its traceback becomes its output)
    seed: int = 0, # seed of the global generators (`seed_everything`)
) -> dict: # `nb`, with outputs
    "Run the cells of `nb` in a `CaptureShell` in folder `cwd`."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    seed_everything(seed)
    shell = CaptureShell(path=cwd)
    shell.run_cell("from nbdev.showdoc import show_doc\nimport matplotlib as _mpl\n_mpl.rcParams['svg.hashsalt'] = 'laic_nb'\ndel _mpl")
    count = 0
    with working_directory(cwd or os.getcwd()):
        for i, cell in enumerate(nb.cells):
            run, skipped = _wants_run(cell, execute, skip_flags)
            cell.skipped_ = skipped
            if not run: continue
            cell.outputs, count = [], count + 1
            shell.cell(cell)
            cell.execution_count = count
            if shell.exc is not None and not allow_errors:
                name = Path(getattr(nb, "path_", "notebook")).name
                raise RuntimeError(f"{name}: cell {i} failed:\n{cell.source}\n\n{shell.prettytb(fname=name)}")
    return nb


# The page form: MyST-NB reads cell tags (`remove-cell`, `remove-input`, `hide-input`, ...) to decide what a reader
# sees, so nbdev's directives and Quarto's cell options (`#| echo: false`, `#| output: false`, `#| include: false`) are
# translated into them. Outputs are scrubbed of what differs between two identical runs (memory addresses, random
# temporary names, progress bars, matplotlib's font-cache notice) and of `show_doc`'s link to a source line on GitHub
# (Quarto attribute syntax that Sphinx would show verbatim; the exported source sits folded below the API section).

def _clean_text(lines, stderr: bool = False) -> list:
    text = "".join(lines) if isinstance(lines, list) else lines
    text = _re_tmpname.sub("tmpXXXXXXXX", _re_address.sub("0x...", text))
    if stderr: text = "".join(l for l in text.splitlines(True) if "\r" not in l and not _re_progress.search(l))
    return text.splitlines(True)


def _md_output(text: str) -> str:
    "Markdown output made safe for a page: no source link, thematic breaks as HTML (docutils allows none inside an output)."
    lines, fence = [], None
    for line in _re_source_link.sub("", text).splitlines(True):
        m = re.match(r"^\s*(`{3,}|~{3,})", line)
        if m and (fence is None or m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)): fence = None if fence else m.group(1)
        elif fence is None and re.match(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$", line): line = "<hr>\n" if lines else ""
        lines.append(line)
    return "".join(lines).lstrip("\n")


def _clean_output(out: dict) -> dict | None:
    out = json.loads(json.dumps(out))  # plain dicts, detached from the shell's objects
    if out["output_type"] == "stream":
        out["text"] = _clean_text(out["text"], stderr=out.get("name") == "stderr")
        return out if out["text"] else None
    if "data" in out:
        for k in list(out["data"]):
            if k == "text/markdown": out["data"][k] = _clean_text(_md_output("".join(out["data"][k])))
            elif k.startswith("text/"): out["data"][k] = _clean_text(out["data"][k])
    if out["output_type"] == "execute_result": out["execution_count"] = None
    return out


def page_nb(
    nb, # an executed notebook from `execute_nb`
    rename: dict | None = None, # text replacements in markdown cells (links to the chapter that became `index`)
) -> dict: # a plain nbformat-4 notebook for MyST-NB
    "The executed notebook `nb` as a page: hidden cells dropped, cell options as tags, outputs scrubbed."
    cells, fold = [], None  # fold: where the API sections of the last exported cell go (just above its source)
    def add(cell, at=None):
        nonlocal fold
        if at is None: cells.append(cell); fold = None
        else: cells.insert(at, cell); fold = at + 1
    for cell in nb.cells:
        src, d = cell.source, dict(cell.directives_ or {})
        if cell.cell_type != "code":
            for old, new in (rename or {}).items(): src = src.replace(old, new)
            add(dict(cell_type=cell.cell_type, metadata={}, source=src.splitlines(True)))
            continue
        if d.keys() & _HIDE_DIRS: continue
        lines, opts = src.splitlines(True), {}
        while lines and (m := _re_quarto.match(lines[0])):
            opts[m.group(1)] = m.group(2).strip("'\"").lower(); lines.pop(0)
        if opts.get("include") == "false": continue
        tags = []
        if "show_doc" in d or opts.get("echo") == "false": tags.append("remove-input")
        elif d.keys() & _FOLD_DIRS or opts.get("code-fold") in ("true", "show"): tags.append("hide-input")
        if opts.get("output") == "false": tags.append("remove-output")
        outputs = [o for o in map(_clean_output, cell.get("outputs", [])) if o is not None]
        source = "".join(lines).strip("\n")
        if not source and not outputs: continue
        at = fold if "show_doc" in d else None
        add(dict(cell_type="code", execution_count=cell.get("execution_count") or None,
                 metadata=dict(tags=tags) if tags else {}, outputs=outputs, source=source.splitlines(True)), at)
        if "hide-input" in tags and d.keys() & _FOLD_DIRS: fold = len(cells) - 1
        for flag in getattr(cell, "skipped_", []):
            note = SKIP_NOTES.get(flag, f"This cell is marked `#| {flag}`, so it was not run when this book was built.")
            if outputs: note += " The output shown was stored with the notebook from an earlier run."
            add(dict(cell_type="markdown", metadata={}, source=[":::{note}\n", note + "\n", ":::"]))
            break
    cells = [dict(c, id=f"cell-{i}") for i, c in enumerate(cells)]
    meta = dict(kernelspec=dict(display_name="Python 3", language="python", name="python3"),
                language_info=dict(name="python", pygments_lexer="ipython3"))
    return dict(cells=cells, metadata=meta, nbformat=4, nbformat_minor=5)


# Each page is made in a child process: this file, loaded under its own name (not `book`, which a chapter could
# shadow), runs `_page_worker` on the JSON arguments. `python -c` keeps the child's import path as a chapter expects.
_CHILD = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('laic_book_tool', sys.argv[1]); "
          "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m._page_worker()")


def make_page(
    src, # the chapter notebook
    dst, # where the page notebook goes
    execute: bool = True, # False: only what the API sections need (see `execute_nb`)
    skip_flags=SKIP_FLAGS, # directives whose cells are not run
    allow_errors: bool = False, # True: a failing cell shows its traceback instead of stopping the build
    rename: dict | None = None, # text replacements in markdown cells (see `page_nb`)
    threads: int | None = None, # BLAS/OpenMP threads of the child (None: the libraries' default)
    timeout: float | None = None, # seconds before the chapter counts as failed (None: no limit)
    env: dict | None = None, # more environment variables for the child (CPU kernel settings, `LAIC_CLAIMS`)
) -> dict: # `wall_s` and `cpu_s` of the child process
    "Prepare, run and convert notebook `src` in a fresh Python process; write the page notebook to `dst`."
    args = dict(src=str(Path(src).resolve()), dst=str(Path(dst).resolve()), execute=execute,
                skip_flags=list(skip_flags), allow_errors=allow_errors, rename=rename or {})
    extra_env, env = env, dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1")
    if threads: env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    env.update(extra_env or {})
    t0 = time.perf_counter()
    try:
        res = subprocess.run([sys.executable, "-c", _CHILD, str(Path(__file__).resolve()), json.dumps(args)],
                             env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: raise RuntimeError(f"{Path(src).name}: still running after {timeout} s") from None
    if res.returncode != 0: raise RuntimeError(f"{Path(src).name} could not be built:\n{res.stderr[-6000:]}")
    return dict(wall_s=round(time.perf_counter() - t0, 2), **json.loads(res.stdout.strip().splitlines()[-1]))


def _page_worker():
    a = json.loads(sys.argv[-1])
    try: sys.path.insert(1, str(project_root(a["src"])))  # as nbdev_test does (its basepath): the clone's folders import
    except ValueError: pass  # a notebook outside a clone
    nb = execute_nb(prepare_nb(a["src"]), cwd=Path(a["src"]).parent, execute=a["execute"],
                    skip_flags=a["skip_flags"], allow_errors=a["allow_errors"] or not a["execute"])
    Path(a["dst"]).write_text(json.dumps(page_nb(nb, rename=a["rename"]), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    import resource
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps(dict(cpu_s=round(r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime, 2))))


# --- Configuration and the build ------------------------------------------------------------------------------------
# `_config.yml` tells Jupyter Book not to execute anything (the pages arrive executed), to render Markdown outputs such
# as `show_doc`'s with MyST, and to take MathJax from the local copy. No launch, analytics or repository buttons: each
# would add a network reference to every page.

def book_config(
    mathjax_extra: str = "../extra", # folder holding `mathjax/`, relative to the book source (served as `_static/mathjax`)
    title: str = "laic_nb", # the site's title
    author: str = "laic_nb developers", # shown in the footer
) -> dict: # the content of `_config.yml`
    "Jupyter Book's configuration: no execution, MathJax from the local copy, MyST Markdown outputs."
    return {
        "title": title, "author": author, "copyright": "2026", "logo": "",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["amsmath", "colon_fence", "dollarmath", "linkify"]},
        "html": {"home_page_in_navbar": True, "use_repository_button": False, "use_issues_button": False,
                 "use_edit_page_button": False, "use_multitoc_numbering": False},
        "launch_buttons": {"binderhub_url": "", "jupyterhub_url": "", "colab_url": "", "thebe": False},
        "sphinx": {"config": {
            "mathjax_path": f"mathjax/{MATHJAX_COMPONENT}",
            "html_static_path": [str(mathjax_extra)],
            "nb_render_markdown_format": "myst",
            "nb_execution_mode": "off",
            "html_show_sourcelink": False,
            "html_last_updated_fmt": None,
            "suppress_warnings": ["myst.header"],
        }},
    }


# Pages are made in parallel, one child process per chapter and as many at once as there are cores, each limited to
# its share of BLAS threads. Executed pages are cached under `.cache/book/`, keyed by the notebook, the code the
# chapters run (the package, `bench/`, this file) and the build options, so rebuilding after editing one chapter re-runs
# only that chapter; `force=True` re-runs everything. Every build starts from an empty `_build` folder, so a deleted
# chapter cannot linger on the site.

def _source_digest(root: Path) -> str:
    "Hash of the code the chapters run: the package's modules (not its symbol index), `bench/` and this builder."
    h = hashlib.sha256()
    files = [*(root/"laic_nb").rglob("*.py"), *(root/"bench").glob("*.py"), root/"tools"/"book.py"]  # not the checks
    for p in sorted(files):
        if p.name != "_modidx.py": h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def _log(quiet, *args):
    if not quiet: print(*args, flush=True)

def _rename(chapters) -> dict: return {f"({chapters[0]['stem']}.ipynb": "(index.ipynb"}  # links to the landing page

def page_cache_path(
    ch: dict, # a chapter of `list_chapters`
    chapters: list, # all of them (the landing page's name enters the page)
    root: Path, # the project
    execute: bool = True, # as `build_book`
    skip_flags=SKIP_FLAGS, # as `build_book`
    allow_errors: bool = False, # as `build_book`
    digest: str | None = None, # `_source_digest(root)`, if already computed
) -> Path: # where the executed page of `ch` is kept, keyed by everything that shapes it
    "The cached page of a chapter under `.cache/book/`: the notebook, the code it runs, the build options."
    opts = json.dumps(dict(execute=execute, skip=list(skip_flags), errors=allow_errors, lib=digest or _source_digest(root),
                           index=chapters[0]["stem"], v=3))
    key = hashlib.sha256(ch["path"].read_bytes() + opts.encode()).hexdigest()[:20]
    return root/".cache"/"book"/f"{ch['stem']}-{key}.ipynb"

def _store(page: Path, cached: Path):
    "Copy a page into the cache atomically: a concurrent build never reads half a file."
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    shutil.copyfile(page, tmp); os.replace(tmp, cached)

def cached_page(
    src, # a chapter notebook `NN_name.ipynb` of the project
    skip_flags=SKIP_FLAGS, # directives whose cells are not run
    threads: int | None = 1, # BLAS/OpenMP threads of the child
) -> tuple[Path, bool]: # (the cached page, whether it was already there)
    "Execute a chapter exactly as `build_book` does (unless cached) and keep its page for the build: the notebook tests call this."
    src = Path(src).resolve()
    root = project_root(src)
    chapters = list_chapters(src.parent)
    ch = next(c for c in chapters if c["path"].resolve() == src)
    cached = page_cache_path(ch, chapters, root, True, skip_flags, False)
    if cached.exists(): return cached, True
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp)/src.name
        make_page(src, dst, execute=True, skip_flags=skip_flags, rename=_rename(chapters), threads=threads)
        _store(dst, cached)
    return cached, False


def build_book(
    out_dir=None, # output folder (default: _book/ of the project); the site goes to its _build/html/
    execute: bool = True, # False: a quick build that runs only what the API sections need
    nbs_path=None, # folder of chapter notebooks (default: nbs/ of the project)
    force: bool = False, # True: ignore cached pages and execute every chapter
    n_workers: int | None = None, # chapters made at once (default: one per core)
    skip_flags=SKIP_FLAGS, # directives whose cells are not run
    allow_errors: bool = False, # True: failing cells show their tracebacks instead of stopping the build
    cache: bool = True, # False: neither read nor write .cache/book/
    quiet: bool = False, # True: print nothing
) -> Path: # the site's index.html
    "Build the site from the chapter notebooks."
    try: root = project_root(nbs_path)
    except ValueError: root = project_root()
    nbs = Path(nbs_path or root/"nbs").resolve()
    out = Path(out_dir or root/"_book").resolve()
    chapters = list_chapters(nbs)
    toc = book_toc(chapters)
    src, build = out/"src", out/"_build"
    shutil.rmtree(src, ignore_errors=True); shutil.rmtree(build, ignore_errors=True); src.mkdir(parents=True)
    extra = out/"extra"
    if not (extra/"mathjax"/MATHJAX_COMPONENT).exists():
        shutil.rmtree(extra, ignore_errors=True); shutil.copytree(mathjax_dir(), extra/"mathjax")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n_workers = max(1, min(n_workers or cpus, len(chapters)))
    digest = _source_digest(root)

    def one(ch):
        dst = src/f"{doc_name(ch, chapters)}.ipynb"
        cached = page_cache_path(ch, chapters, root, execute, skip_flags, allow_errors, digest)
        if cache and not force and cached.exists():
            shutil.copyfile(cached, dst); return ch["stem"], "cached"
        took = make_page(ch["path"], dst, execute=execute, skip_flags=skip_flags, allow_errors=allow_errors,
                         rename=_rename(chapters), threads=max(1, cpus // n_workers))
        if cache: _store(dst, cached)
        _log(quiet, f"  {ch['stem']}: {took['wall_s']:.1f} s ({took['cpu_s']:.1f} s CPU)")
        return ch["stem"], took

    t0 = time.perf_counter()
    _log(quiet, f"Making {len(chapters)} pages ({'executing' if execute else 'API sections only'}, {n_workers} at a time)")
    failures, times = [], {}
    with ThreadPoolExecutor(n_workers) as pool:
        futs = [pool.submit(one, ch) for ch in chapters]
        for ch, fut in zip(chapters, futs):
            try: stem, took = fut.result(); times[stem] = took
            except RuntimeError as e: failures.append(str(e))
    if failures: raise RuntimeError(f"{len(failures)} chapter(s) failed:\n\n" + "\n\n".join(failures))
    t_pages = time.perf_counter() - t0

    import yaml
    (src/"_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (src/"_config.yml").write_text(yaml.safe_dump(book_config(os.path.relpath(extra, src)), sort_keys=False))
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(src), "--path-output", str(out), "--builder", "html"]
    t1 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    index = build/"html"/"index.html"
    if res.returncode != 0 or not index.exists():
        raise RuntimeError(f"jupyter-book build failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    warnings = [l for l in (res.stdout + res.stderr).splitlines() if "WARNING" in l]
    cpu = sum(t["cpu_s"] for t in times.values() if isinstance(t, dict))
    (out/"build_log.json").write_text(json.dumps(dict(pages=times, pages_cpu_s=round(cpu, 1), pages_total_s=round(t_pages, 1),
        sphinx_s=round(time.perf_counter() - t1, 1), warnings=warnings), indent=1))
    _log(quiet, f"Pages in {t_pages:.1f} s ({cpu:.1f} s CPU in the page processes), site in {time.perf_counter() - t1:.1f} s, {len(warnings)} Sphinx warning(s)")
    for w in warnings[:20]: _log(quiet, "  " + w)
    return index


# --- Command line ---------------------------------------------------------------------------------------------------

def main(
    argv=None, # arguments (default: sys.argv[1:])
) -> int: # the exit status: 0, or 1 when the build failed
    "Entry point of `python tools/book.py` (what `make book` runs): build the site and print its index.html."
    import argparse
    ap = argparse.ArgumentParser(prog="tools/book.py", description=build_book.__doc__)
    ap.add_argument("--out", default=None, help="output folder (default: _book/ in the project)")
    ap.add_argument("--nbs", default=None, help="folder of chapter notebooks (default: nbs/ in the project)")
    ap.add_argument("--no-execute", action="store_true", help="run only what the API sections need")
    ap.add_argument("--force", action="store_true", help="ignore cached pages and execute every chapter")
    ap.add_argument("--workers", type=int, default=None, help="chapters executed at once (default: one per core)")
    ap.add_argument("--allow-errors", action="store_true", help="show failing cells' tracebacks instead of stopping")
    a = ap.parse_args(argv)
    try: index = build_book(a.out, execute=not a.no_execute, nbs_path=a.nbs, force=a.force, n_workers=a.workers,
                            allow_errors=a.allow_errors)
    except (RuntimeError, ValueError) as e:
        print(f"tools/book.py: book build failed: {e}", file=sys.stderr)
        return 1
    print(index)
    return 0


if __name__ == "__main__": sys.exit(main())
