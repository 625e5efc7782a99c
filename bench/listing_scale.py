"""How the CLI's listing scales: 10^3 .. 10^6 local images (hard links of the bench set,
one folder per class), each featurized by the real CLI until its first --parts parts are
staged (the 10^3 run simply finishes), then interrupted, so that every size featurizes about
as many images. Reports, per size: seconds until the job's listing is staged (listing,
sort, model load: when featurizing starts), the listing file's size, and the process's
peak resident memory (listing, sort and the featurizing that followed).

    .deps/venv/bin/python bench/listing_scale.py [--sizes 1000,10000,100000,1000000]
                                                 [--parts 2] [--work DIR]

Each tree is made once and kept in --work (hard links: no image bytes are copied; names
like "Apple Braeburn/00001234_100_100.jpg", as in the bench set)."""
import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "data" / "fruits360-bench"


def make_tree(where, count):
    """`count` images in one folder per class, hard links of the bench set's images."""
    marker = where / f".complete-{count}"
    if marker.exists():
        return
    shutil.rmtree(where, ignore_errors=True)
    sources = sorted(p for p in BENCH.rglob("*.jpg"))
    classes = sorted({p.parent.name for p in sources})
    for name in classes:
        (where / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        source = sources[index % len(sources)]
        os.link(source, where / source.parent.name / f"{index:08d}_{source.name}")
    marker.touch()


def run_once(binary, tree, out, parts):
    shutil.rmtree(out, ignore_errors=True)
    start = time.monotonic()
    listing = out / "_temporary" / "listing" / "listing.bin"
    last_part = out / "_temporary" / "features" / f"part-{parts - 1:05d}.parquet"
    process = subprocess.Popen([str(binary), "featurize", "-i", str(tree), "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    staged_after = None
    while process.poll() is None:
        if staged_after is None and listing.exists():
            staged_after = time.monotonic() - start
        if last_part.exists():
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, stderr = process.communicate()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the largest child so far
    published = out / "listing" / "listing.bin"  # a run that finished first
    listing_bytes = (listing if listing.exists() else published).stat().st_size \
        if (listing.exists() or published.exists()) else 0
    return staged_after, listing_bytes, process.returncode, stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--work", default="/tmp/orchard-listing-scale")
    parser.add_argument("--binary", default=str(ROOT / "build" / "apps" / "orchard" / "orchard"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.work)
    print("| images | listing staged after (s) | listing file (MiB) | peak RSS (MiB) |")
    print("|---:|---:|---:|---:|")
    for count in sizes:
        tree = work / f"tree-{count}"
        make_tree(tree, count)
        # Each size in a fresh interpreter child so that RUSAGE_CHILDREN is this run's alone.
        result = subprocess.run(
            [sys.executable, __file__, "--one", str(count), "--binary", args.binary,
             "--work", args.work, "--parts", str(args.parts)],
            capture_output=True, text=True, check=False)
        print(result.stdout.strip() or result.stderr.strip(), flush=True)
    shutil.rmtree(work / "out", ignore_errors=True)


def one(count, binary, work, parts):
    tree = Path(work) / f"tree-{count}"
    staged, listing_bytes, code, stderr = run_once(binary, tree, Path(work) / "out", parts)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if staged is None:
        print(f"| {count:,} | failed (exit {code}): {stderr.strip()[-300:]} | | |")
        return
    print(f"| {count:,} | {staged:.1f} | {listing_bytes / 2**20:.1f} | {peak:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        parsed = argparse.ArgumentParser()
        parsed.add_argument("--one", type=int)
        parsed.add_argument("--binary")
        parsed.add_argument("--work")
        parsed.add_argument("--parts", type=int)
        a = parsed.parse_args()
        one(a.one, a.binary, a.work, a.parts)
    else:
        main()
