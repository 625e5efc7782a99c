#!/usr/bin/env python3
"""Benchmark of `orchard train` / `orchard predict` (issue 13) against scikit-learn.

On the Fruits-360 bench set (131 classes x 50 images), split by file order (first 40
images of each class train, last 10 test, hard links under --work):

  1. `orchard run` on train/ and test/ (skipped when the outputs already exist);
  2. `orchard train` on features and on pca (C chosen on a 10 % stratified validation
     split), timed (wall and CPU), then `orchard predict` on the test output;
  3. `orchard train --c C --validation-split 0`: one cold fit on every row, and
     scikit-learn's LogisticRegression (multinomial, lbfgs) on the same standardized
     features, with the C orchard chose, timed the same way (fit only);
  4. with --scale-rows N: `orchard train` on N rows x 1280 made by repeating the train
     features with small Gaussian noise, to time training at the size of Fruits-360.

Usage (from the repository root, after scripts/build.sh; needs scikit-learn, see
bench/requirements.txt):
  .deps/venv/bin/python bench/classify_bench.py --threads 2 [--scale-rows 67000]
Prints a Markdown table and writes WORK/results.json.
"""
import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = pathlib.Path(__file__).resolve().parents[1]


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(binary, *args):
    start_wall, start_cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"orchard {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc, time.perf_counter() - start_wall, children_cpu() - start_cpu


def split(data, work, per_class):
    train, test = work / "train", work / "test"
    if train.exists():
        return train, test
    for label_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        for index, source in enumerate(sorted(p for p in label_dir.iterdir() if p.is_file())):
            target = (train if index < per_class else test) / label_dir.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    return train, test


def read_vectors(folder, column):
    table = pq.read_table(folder).sort_by("path")
    values = table.column(column).combine_chunks()
    matrix = values.values.to_numpy().reshape(table.num_rows, -1).astype(np.float32)
    return matrix, np.array(table.column("label").to_pylist())


def sklearn_side(train_x, train_y, test_x, test_y, c, threads):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        scaler = StandardScaler().fit(train_x)
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        model = LogisticRegression(C=c, max_iter=5000, solver="lbfgs")
        model.fit(scaler.transform(train_x), train_y)
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
        accuracy = float(np.mean(model.predict(scaler.transform(test_x)) == test_y))
    return {"fit_seconds": wall, "fit_cpu_seconds": cpu, "test_accuracy": accuracy,
            "iterations": int(np.max(model.n_iter_)), "c": c}


def scaled_output(train_out, work, rows, seed=0):
    """An output folder with `rows` feature rows: the train rows repeated with noise."""
    out = work / f"scaled_{rows}"
    if (out / "_SUCCESS").exists():
        return out
    x, labels = read_vectors(train_out / "features", "features")
    rng = np.random.default_rng(seed)
    noise = 0.05 * x.std(axis=0)
    (out / "features").mkdir(parents=True, exist_ok=True)
    (out / "report").mkdir(exist_ok=True)
    part, done = 0, 0
    while done < rows:
        count = min(len(x), rows - done)
        chunk = x[:count] + rng.standard_normal((count, x.shape[1]), dtype=np.float32) * noise
        table = pa.table({
            "path": [f"{labels[i]}/copy{part}_{i}.jpg" for i in range(count)],
            "label": labels[:count].tolist(),
            "features": pa.FixedSizeListArray.from_arrays(
                pa.array(chunk.astype(np.float32).ravel()), x.shape[1]).cast(
                    pa.list_(pa.float32())),
        })
        pq.write_table(table, out / "features" / f"part-{part:05d}.parquet")
        part, done = part + 1, done + count
    (out / "report" / "summary.json").write_text(
        (train_out / "report" / "summary.json").read_text())
    (out / "_SUCCESS").write_text("")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=pathlib.Path,
                        default=REPO.parent / "shared" / "data" / "fruits360-bench")
    parser.add_argument("--work", type=pathlib.Path,
                        default=pathlib.Path("/tmp/orchard-classify-bench"))
    parser.add_argument("--orchard", default=str(REPO / "build" / "apps" / "orchard" / "orchard"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--scale-rows", type=int, default=0)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    train, test = split(args.data, work, args.per_class)
    outs = {}
    for name, folder in (("train_out", train), ("test_out", test)):
        outs[name] = work / name
        if not (outs[name] / "_SUCCESS").exists():
            run(args.orchard, "run", "-i", folder, "-o", outs[name], "-j", args.threads, "-q",
                "--overwrite")

    results = {"threads": args.threads, "rows": {}, "orchard": {}, "sklearn": {}}
    train_x, train_y = read_vectors(outs["train_out"] / "features", "features")
    test_x, test_y = read_vectors(outs["test_out"] / "features", "features")
    results["rows"] = {"train": len(train_y), "test": len(test_y),
                       "classes": len(set(train_y.tolist()))}
    pca_model = json.loads((outs["train_out"] / "pca_model" / "model.json").read_text())
    mean = np.array(pca_model["mean"], dtype=np.float64)
    components = np.array(pca_model["components"], dtype=np.float64)

    def project(x):  # the train run's PCA model, as the classifier uses it
        return ((x - mean) @ components.T).astype(np.float32)

    for on in ("features", "pca"):
        model = work / f"model_{on}"
        proc, wall, cpu = run(args.orchard, "train", "-i", outs["train_out"], "-o", model, "--on",
                              on, "-j", args.threads, "--json", "-q", "--overwrite")
        training = json.loads(proc.stdout)["training"]
        pred = work / f"pred_{on}"
        proc, _, _ = run(args.orchard, "predict", "-m", model, "-i", outs["test_out"], "-o", pred,
                         "-j", args.threads, "--json", "-q", "--overwrite")
        predicted = json.loads(proc.stdout)
        results["orchard"][on] = {
            "dim": training["dim"], "c": training["c"],
            "validation_accuracy": training["validation_accuracy"],
            "test_accuracy": predicted["accuracy"], "test_top5_accuracy": predicted["top5_accuracy"],
            "train_seconds": wall, "train_cpu_seconds": cpu,
            "evaluations": sum(c["evaluations"] for c in training["candidates"]) +
            training["final_fit"]["evaluations"],
            "final_fit_seconds": training["final_fit"]["seconds"]}
        # One cold fit with the chosen C on every row: the like-for-like peer of sklearn's fit.
        proc, single_wall, single_cpu = run(
            args.orchard, "train", "-i", outs["train_out"], "-o", work / f"model_{on}_single",
            "--on", on, "--c", training["c"], "--validation-split", 0, "-j", args.threads,
            "--json", "-q", "--overwrite")
        results["orchard"][on]["single_fit"] = {
            "seconds": single_wall, "cpu_seconds": single_cpu,
            "evaluations": json.loads(proc.stdout)["training"]["final_fit"]["evaluations"]}
        tx, vx = (train_x, test_x) if on == "features" else (project(train_x), project(test_x))
        results["sklearn"][on] = sklearn_side(tx, train_y, vx, test_y, training["c"], args.threads)

    if args.scale_rows:
        scaled = scaled_output(outs["train_out"], work, args.scale_rows)
        proc, wall, cpu = run(args.orchard, "train", "-i", scaled, "-o", work / "model_scaled",
                              "-j", args.threads, "--json", "-q", "--overwrite")
        training = json.loads(proc.stdout)["training"]
        results["scaled"] = {
            "rows": args.scale_rows, "train_seconds": wall, "train_cpu_seconds": cpu,
            "c": training["c"], "validation_accuracy": training["validation_accuracy"],
            "evaluations": sum(c["evaluations"] for c in training["candidates"]) +
            training["final_fit"]["evaluations"],
            "seconds": training["seconds"]}

    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"bench set: {results['rows']['train']} train / {results['rows']['test']} test rows, "
          f"{results['rows']['classes']} classes, {args.threads} threads\n")
    print("| input | engine | C | validation acc. | test acc. | top-5 | train/fit s (wall) | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for on in ("features", "pca"):
        mine, peer = results["orchard"][on], results["sklearn"][on]
        print(f"| {on} ({mine['dim']}-d) | orchard train (C search + refit) | {mine['c']:g} | "
              f"{mine['validation_accuracy']:.4f} | {mine['test_accuracy']:.4f} | "
              f"{mine['test_top5_accuracy']:.4f} | {mine['train_seconds']:.1f} | "
              f"{mine['train_cpu_seconds']:.1f} |")
        single = mine["single_fit"]
        print(f"| {on} | orchard train --c {mine['c']:g} --validation-split 0 (one fit) | "
              f"{mine['c']:g} | | | | {single['seconds']:.1f} | {single['cpu_seconds']:.1f} |")
        print(f"| {on} | scikit-learn LogisticRegression (lbfgs, one fit) | {peer['c']:g} | | "
              f"{peer['test_accuracy']:.4f} | | {peer['fit_seconds']:.1f} | "
              f"{peer['fit_cpu_seconds']:.1f} |")
    if "scaled" in results:
        s = results["scaled"]
        print(f"\nscaled: {s['rows']} rows x 1280: orchard train {s['train_seconds']:.1f} s wall, "
              f"{s['train_cpu_seconds']:.1f} s CPU, {s['evaluations']} objective evaluations, "
              f"C={s['c']:g}")


if __name__ == "__main__":
    main()
