"""Packaging for laic_nb, read from settings.ini (nbdev 2 layout).

Pins and why:
- nbdev==2.4.14, execnb==0.1.18, fastcore<2, ghapi<2: nbdev 3 refuses settings.ini, and a
  plain ``nbdev<3`` resolves to a set that does not import.
- torch, torchvision, open_clip_torch and the rest: ranges, not pins, so that ``pip install`` keeps the torch a
  machine already has (Colab, a CUDA workstation; ``tests/test_install.py``). The exact set that ``make`` and CI
  test, and why torch and torchvision are pinned there as a pair, is ``requirements-lock.txt``. The oldest ends
  claimed (torch 2.9.1, torchvision 0.24.1, open_clip_torch 3.0.0, numba 0.60.0, numpy 2.0.2, scikit-learn 1.9.1)
  pass ``make test``.
- scikit-learn>=1.9: with 1.6 to 1.8, ``SpectralClustering(affinity="precomputed")``, the dense reference of the
  performance chapter, splits its well-separated synthetic clusters (NMI 0.84 where 1.9 gives 1.0).
- No pkg_resources (nbdev's template uses it; it fails under build isolation).
"""
from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

licenses = {"apache2": ("Apache Software License 2.0", "OSI Approved :: Apache Software License")}
statuses = ["Planning", "Pre-Alpha", "Alpha", "Beta", "Production/Stable", "Mature", "Inactive"]
lic = licenses[cfg["license"]]
min_python = cfg["min_python"]
py_versions = ["3.10", "3.11", "3.12", "3.13"]

requirements = cfg["requirements"].split()
dev_requirements = cfg["dev_requirements"].split()
docs_requirements = cfg["docs_requirements"].split()
ray_requirements = cfg["ray_requirements"].split()  # the optional extra laic_nb[ray]: Ray engines, FAISS candidates
scripts = [s.strip() for s in cfg["console_scripts"].split("\n") if s.strip()]

setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    license=lic[0],
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"])],
        "Intended Audience :: " + cfg["audience"].title(),
        "Natural Language :: " + cfg["language"].title(),
    ] + [f"Programming Language :: Python :: {v}" for v in py_versions[py_versions.index(min_python):]],
    url=cfg["git_url"],
    packages=setuptools.find_packages(include=["laic_nb", "laic_nb.*"]),
    include_package_data=True,
    package_data={"laic_nb": ["resources/*"]},
    install_requires=requirements,
    extras_require={"dev": dev_requirements + docs_requirements + ray_requirements, "docs": docs_requirements,
                    "ray": ray_requirements},
    python_requires=">=" + min_python,
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    zip_safe=False,
    entry_points={"console_scripts": scripts, "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    author=cfg["author"],
    author_email=cfg["author_email"],
    description=cfg["description"],
    keywords=cfg["keywords"],
)
