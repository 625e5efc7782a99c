#!/usr/bin/env python3
"""Makes a deterministic N-image input folder from a labelled image folder.

Keeps the class sub-folders. Images are chosen evenly spaced over the sorted list of
all files (so every class is represented in proportion); when N exceeds the source,
the source is repeated under distinct names (rep<k>_<name>). Files are hard-linked
(same filesystem) or copied, never symlinked, so every reader sees plain files.

Usage: make_subset.py SRC DST N
"""
import os
import shutil
import sys


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    files = []
    for label in sorted(os.listdir(src)):
        folder = os.path.join(src, label)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith((".jpg", ".jpeg", ".png")):
                files.append((label, name))
    if not files:
        print(f"no images under {src}", file=sys.stderr)
        return 1
    total = len(files)
    chosen = []
    if n <= total:
        chosen = [(files[i * total // n], 0) for i in range(n)]
    else:
        chosen = [(files[i % total], i // total) for i in range(n)]
    os.makedirs(dst, exist_ok=True)
    for (label, name), rep in chosen:
        os.makedirs(os.path.join(dst, label), exist_ok=True)
        target = os.path.join(dst, label, name if rep == 0 else f"rep{rep}_{name}")
        source = os.path.join(src, label, name)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    print(f"{len(chosen)} images in {len({c[0][0] for c in chosen})} classes -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
