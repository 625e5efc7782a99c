#!/usr/bin/env python3
"""Prints the tables of bench/run_bench.sh from the JSON files in its work folder.

Usage: report.py WORK_DIR
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def last_json_line(path):
    try:
        with open(path) as f:
            lines = [l for l in f if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def fmt(x, digits=1):
    return "–" if x is None else f"{x:,.{digits}f}"


def main() -> int:
    work = sys.argv[1]
    n = int(open(os.path.join(work, "n_images")).read())
    rows = []
    # orchard
    o_meas, o_sum = load(f"{work}/orchard.measure.json"), load(f"{work}/orchard.summary.json")
    ref = {}
    if o_meas and o_sum:
        feat = o_sum["seconds"]["featurize"]
        ref = {"e2e": n / o_meas["wall_seconds"], "feat": n / feat}
        rows.append(("orchard (C++, ONNX Runtime)", n, o_meas["wall_seconds"], None, feat, o_meas, o_sum["pca"]["k"]))
    for peer, label in (("keras", "(a) PySpark + Keras MobileNetV2 (course)"), ("onnx", "(b) PySpark + onnxruntime")):
        meas, out = load(f"{work}/{peer}.measure.json"), last_json_line(f"{work}/{peer}.stdout")
        if meas and out and meas["exit_code"] == 0:
            s = out["seconds"]
            rows.append((label, out["images"], meas["wall_seconds"], s["featurize"] + s["pca"], s["featurize"], meas, out["pca_k"]))
    c_meas, c_out = load(f"{work}/ceiling.measure.json"), last_json_line(f"{work}/ceiling.stdout")
    if c_meas and c_out:
        rows.append(("(c) ceiling: ONNX Runtime alone", c_out["images"], None, None, c_out["seconds"], c_meas, None))

    print(f"\nEnd-to-end vs peers: {n} images, 2 cores, batch 32")
    print("| peer | images | wall s (incl. startup) | img/s e2e | s excl. Spark startup | featurize s | img/s featurize | orchard/peer e2e | orchard/peer featurize | PCA k | peak RSS MiB (tree sum) | peak PSS MiB (tree sum) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, images, wall, excl, feat, meas, k in rows:
        e2e = images / wall if wall else None
        fps = images / feat if feat else None
        r_e2e = ref["e2e"] / e2e if ref and e2e else None
        r_feat = ref["feat"] / fps if ref and fps else None
        print(
            f"| {label} | {images} | {fmt(wall)} | {fmt(e2e)} | {fmt(excl)} | {fmt(feat)} | {fmt(fps)} | "
            f"{fmt(r_e2e, 2)}{'x' if r_e2e else ''} | {fmt(r_feat, 2)}{'x' if r_feat else ''} | {k if k else '–'} | "
            f"{fmt(meas['peak_tree_rss_mib'], 0)} | {fmt(meas['peak_tree_pss_mib'], 0)} |"
        )

    mem = sorted(
        (int(f.split(".")[1]), f) for f in os.listdir(work) if f.startswith("mem.") and f.endswith(".summary.json")
    )
    if mem:
        print("\nMemory is flat: orchard alone, 2 threads, batch 32")
        print("| images | wall s | img/s e2e | img/s featurize | peak RSS MiB (/usr/bin/time) | peak_rss_mib (summary.json) | PCA k |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for size, name in mem:
            s = load(f"{work}/{name}")
            m = load(f"{work}/mem.{size}.measure.json")
            if not s or not m:
                continue
            print(
                f"| {size:,} | {fmt(m['wall_seconds'])} | {fmt(size / m['wall_seconds'])} | "
                f"{fmt(size / s['seconds']['featurize'])} | {fmt(m['time_maxrss_mib'], 0)} | "
                f"{fmt(s['peak_rss_mib'], 0)} | {s['pca']['k']} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
