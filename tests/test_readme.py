"""The README's promises, checked: its Python example runs as written, and set-up is exactly two commands.

The example runs in a fresh Python process, from an empty folder (so it relies on the installed package, not on the
clone's working directory), with the network-facing libraries told to stay offline, as on a fresh build machine.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_PROXY": "*",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # a proxy nobody listens on


def code_blocks(text: str, lang: str) -> list[str]:
    "The fenced code blocks of `text` whose info string is `lang`."
    return [m.group(1) for m in re.finditer(rf"^```{lang}[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S)]


def test_code_blocks():
    text = "a\n```python\nx = 1\n```\n```sh\nls\n```\n```python\ny = 2\n```\n"
    assert code_blocks(text, "python") == ["x = 1\n", "y = 2\n"] and code_blocks(text, "sh") == ["ls\n"]


def test_readme_example_runs(tmp_path):
    blocks = code_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks, "README.md has no ```python block"
    for i, code in enumerate(blocks):
        env = dict(os.environ, MPLBACKEND="Agg", **OFFLINE)
        res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"README.md python block {i + 1} failed:\n{code}\n{res.stderr[-3000:]}"
        assert res.stdout.strip(), f"README.md python block {i + 1} printed nothing"


def test_readme_setup_is_two_commands():
    text = README.read_text(encoding="utf-8")
    setup = text[text.index("## Set-up"):]
    setup = setup[:setup.index("\n## ", 1)]
    commands = [line.split("#")[0].strip() for block in code_blocks(setup, "sh") for line in block.splitlines()]
    assert [c for c in commands if c] == ["make book", "make test"]
