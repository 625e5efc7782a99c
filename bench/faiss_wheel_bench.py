"""The route a Python user would take otherwise: the faiss-cpu wheel from PyPI on the same
vectors as bench/index_bench.cc (its `dump` file), with orchard's ivf-pq parameters
(lists, PQ bytes, the re-ranking copy, shortlist factor, training sample size and k-means
iterations, nprobe), so the two implementations compare side by side (docs/benchmarks.md).

    python -m venv /tmp/faiss && /tmp/faiss/bin/pip install faiss-cpu numpy
    build/bench/orchard_index_bench 1000000 64 2 ivf-pq /tmp/vectors.f32
    /tmp/faiss/bin/python bench/faiss_wheel_bench.py /tmp/vectors.f32 1000000 64 2 NPROBE

NPROBE: the one orchard's build chose (its bench line). Not a test.
"""
import math
import sys
import time

import faiss
import numpy as np

QUERIES = 1000
TRAIN_ROWS = 32768
ITERATIONS = 10


def main(path, rows, dim, threads, nprobe):
    faiss.omp_set_num_threads(threads)
    values = np.fromfile(path, dtype=np.float32).reshape(rows + QUERIES, dim)
    base, queries = values[:rows], values[rows:]
    exact = faiss.IndexFlatL2(dim)
    exact.add(base)
    _, truth = exact.search(queries, 10)

    lists = max(1, min(round(4 * math.sqrt(rows)), max(1, rows // 39)))
    sub_quantizers = max(1, min(64, dim // 4))
    start = time.monotonic()
    quantizer = faiss.IndexFlatL2(dim)
    ivf = faiss.IndexIVFPQ(quantizer, dim, lists, sub_quantizers, 8)
    ivf.cp.niter = ITERATIONS
    ivf.pq.cp.niter = ITERATIONS
    ivf.cp.min_points_per_centroid = 1
    refine = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
    index = faiss.IndexRefine(ivf, refine)
    index.k_factor = 8
    sample = np.random.default_rng(42).choice(rows, size=min(TRAIN_ROWS, rows), replace=False)
    index.train(base[np.sort(sample)])
    train_seconds = time.monotonic() - start
    index.add(base)
    build_seconds = time.monotonic() - start
    ivf.nprobe = nprobe
    start = time.monotonic()
    _, found = index.search(queries, 10)
    search_seconds = time.monotonic() - start
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    size = len(faiss.serialize_index(index))
    print(f"| faiss-cpu {faiss.__version__} wheel | {build_seconds:.2f} | {train_seconds:.2f} | "
          f"{size / rows:.1f} | {nprobe} | - | {recall:.4f} | "
          f"{1000 * search_seconds / QUERIES:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
