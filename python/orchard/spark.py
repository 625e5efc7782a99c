"""orchard on Apache Spark: the same engine as the `orchard run` CLI, one Spark job.

    python -m orchard.spark --input DIR_OR_URI --output DIR_OR_URI [options]
    spark-submit [spark options] launcher.py --input ... --output ...   (see docs/spark.md)

Orchestration only; every computation is the C++ library through orchard._native:

  1. list + read the images with Spark's `binaryFile` source; path (relative to the input
     root, '/'-separated) and label (parent folder) are computed exactly as the CLI does;
  2. featurize each partition natively through Arrow batches (`mapInArrow`), one
     Embedder per executor Python process, built once from the broadcast model bytes;
  3. write features + errors with Spark's Parquet writer;
  4. PCA: mergeable statistics per partition (mapInArrow over the written features),
     merged and fitted on the driver; features never reach the driver;
  5. project every row (mapInArrow with the broadcast model JSON), write pca/;
  6. pca_model/, report/ and finally _SUCCESS, through Hadoop's FileSystem API (so local
     paths, s3a:// and EMR's s3:// all work).

Exit codes: 0 success, 1 the job failed, 2 usage error.
"""
import argparse
import io
import json
import os
import sys
import time
import urllib.parse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import orchard
from orchard import _native

# ------------------------------------------------------------------------------ schemas
FEATURIZED_SCHEMA = ("path string, label string, features array<float>, "
                     "stage string, message string")
PCA_SCHEMA = "path string, label string, pca array<float>"
STATS_SCHEMA = "stats binary"


# ------------------------------------------------------------------------ path handling
def normalize_uri(uri):
    """One spelling per location: file:///x, file://localhost/x and file:/x -> file:/x
    (Hadoop's Path.toString form, which binaryFile's `path` column uses); a trailing
    '/' is dropped. Other schemes (s3a://, s3://, hdfs://) are kept as they are."""
    if uri.startswith("file:"):
        rest = uri[len("file:"):]
        if rest.startswith("//"):
            rest = rest[2:]
            slash = rest.find("/")
            rest = rest[slash:] if slash >= 0 else "/"
        uri = "file:" + rest
    if len(uri) > 1 and uri.endswith("/") and not uri.endswith("://"):
        uri = uri.rstrip("/")
    return uri


def relative_path(uri, root):
    """`uri` relative to the (normalized) input root, or None when it is not below it.
    binaryFile gives Hadoop paths unescaped ('a b/c.jpg'); a %-escaped form is accepted
    too, so that both spellings of one file give the same row."""
    uri = normalize_uri(uri)
    for candidate, base in ((uri, root), (urllib.parse.unquote(uri), urllib.parse.unquote(root))):
        if candidate.startswith(base + "/"):
            return candidate[len(base) + 1:]
    return None


def is_hidden(relative):
    """The CLI skips entries whose name, at any depth, starts with '.' or '_'."""
    return any(part.startswith((".", "_")) for part in relative.split("/"))


def label_of(relative, root):
    """Name of the parent folder; for a file directly under the root, the root's name."""
    parts = relative.rsplit("/", 2)
    if len(parts) >= 2:
        return parts[-2]
    return root.rstrip("/").rsplit("/", 1)[-1]


# ------------------------------------------------------------- executor-side functions
_EMBEDDERS = {}  # one Embedder per executor Python process (workers are reused)


def _embedder(model_broadcast, options):
    key = tuple(sorted(options.items()))  # includes the model's sha256
    embedder = _EMBEDDERS.get(key)
    if embedder is None:
        _EMBEDDERS.clear()  # a new job's model replaces the old one
        embedder = orchard.Embedder(model_broadcast.value, **options)
        _EMBEDDERS[key] = embedder
    return embedder


def _vector_column(matrix):
    """float32 [n, d] -> list<float32> without copying the values."""
    n, d = matrix.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if n else np.zeros(1, np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(matrix).reshape(-1)))


def _matrix(column):
    """list<float32> column -> float32 [n, d] (every row must have d values)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if values.size % n:
        raise ValueError("rows of the vector column differ in length")
    return values.reshape(n, values.size // n)


def featurize_partition(batches, root, model_broadcast, embedder_options):
    """mapInArrow: (path, content) batches -> (path, label, features, stage, message)."""
    embedder = None
    for batch in batches:
        uris = batch.column("path").to_pylist()
        paths, labels, contents = [], [], []
        for idx, uri in enumerate(uris):
            relative = relative_path(uri, root)
            if relative is None:
                raise ValueError(f"{uri} is not below the input root {root}")
            if is_hidden(relative):
                continue
            paths.append(relative)
            labels.append(label_of(relative, root))
            contents.append(batch.column("content")[idx].as_py())
        if not paths:
            continue
        if embedder is None:
            embedder = _embedder(model_broadcast, embedder_options)
        features, ok, errors = embedder.embed(contents)
        del contents
        ok = ok.tolist()
        rows = len(ok) + len(errors)
        out_paths = [paths[i] for i in ok] + [paths[i] for i, _, _ in errors]
        out_labels = [labels[i] for i in ok] + [labels[i] for i, _, _ in errors]
        vectors = _vector_column(features)
        if errors:
            vectors = pa.concat_arrays([vectors, pa.nulls(len(errors), vectors.type)])
        stages = [None] * len(ok) + [stage for _, stage, _ in errors]
        messages = [None] * len(ok) + [message for _, _, message in errors]
        yield pa.RecordBatch.from_arrays(
            [pa.array(out_paths, pa.string()), pa.array(out_labels, pa.string()), vectors,
             pa.array(stages, pa.string()), pa.array(messages, pa.string())],
            names=["path", "label", "features", "stage", "message"])
        assert rows == len(out_paths)


def stats_partition(batches):
    """mapInArrow: features batches -> one row with this partition's PCA statistics."""
    total = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        stats = orchard.pca_stats(_matrix(batch.column("features")))
        total = stats if total is None else orchard.merge_stats([total, stats])
    if total is not None:
        yield pa.RecordBatch.from_arrays([pa.array([total], pa.binary())], names=["stats"])


def project_partition(batches, model_broadcast):
    """mapInArrow: (path, label, features) -> (path, label, pca)."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        projected = orchard.project(model_broadcast.value, _matrix(batch.column("features")))
        yield pa.RecordBatch.from_arrays(
            [batch.column("path"), batch.column("label"), _vector_column(projected)],
            names=["path", "label", "pca"])


# ------------------------------------------------------------------ driver-side helpers
class HadoopFs:
    """Small files and bookkeeping through Hadoop's FileSystem (file:, s3a:, EMR s3:)."""

    def __init__(self, spark, uri):
        jvm = spark._jvm
        self._path_class = jvm.org.apache.hadoop.fs.Path
        path = self._path_class(uri)
        self.fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
        self.fs.setWriteChecksum(False)
        self.root = normalize_uri(self.fs.makeQualified(path).toString())

    def path(self, relative=""):
        return self._path_class(self.root + ("/" + relative if relative else ""))

    def uri(self, relative=""):
        return self.root + ("/" + relative if relative else "")

    def exists(self, relative=""):
        return self.fs.exists(self.path(relative))

    def is_empty_dir(self):
        status = self.fs.getFileStatus(self.path())
        return status.isDirectory() and len(self.fs.listStatus(self.path())) == 0

    def delete(self, relative=""):
        self.fs.delete(self.path(relative), True)

    def write(self, relative, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        stream = self.fs.create(self.path(relative), True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()


def read_model(spark, model):
    """The model's bytes: a local file, or any URI Spark can read (s3a://, s3://)."""
    if os.path.exists(model):
        with open(model, "rb") as file:
            return file.read()
    rows = spark.read.format("binaryFile").load(model).select("content").take(1)
    if not rows:
        raise FileNotFoundError(f"model not found: {model}")
    return bytes(rows[0].content)


def components_parquet(model):
    """pca_model/components.parquet, the same table as the CLI's."""
    k = model["k"]
    ratios = model["explained_variance_ratio"][:k]
    table = pa.table({
        "component": pa.array(range(k), pa.int32()),
        "explained_variance": pa.array(model["explained_variance"][:k], pa.float64()),
        "explained_variance_ratio": pa.array(ratios, pa.float64()),
        "cumulative_explained_variance_ratio": pa.array(np.cumsum(ratios), pa.float64()),
        "vector": pa.array(model["components"], pa.list_(pa.float64())),
    })
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m orchard.spark",
        description="orchard on Spark: labelled images -> CNN features -> PCA -> Parquet")
    parser.add_argument("-i", "--input", required=True,
                        help="input folder or URI (s3a://, s3:// on EMR), one sub-folder per label")
    parser.add_argument("-o", "--output", required=True, help="output folder or URI")
    parser.add_argument("-m", "--model", default=None,
                        help="ONNX model, local path or URI (default: the shipped MobileNetV2)")
    parser.add_argument("--model-sha256", default="",
                        help="refuse the model unless its sha256 matches (checked by default "
                             "for the shipped model)")
    parser.add_argument("--output-name", default="features", help="model output holding the embedding")
    parser.add_argument("-b", "--batch-size", type=int, default=32, help="images per inference call")
    parser.add_argument("--rows-per-batch", type=int, default=128,
                        help="images per Arrow batch handed to Python (bounds executor memory)")
    parser.add_argument("--max-pixels", type=int, default=64 * 1024 * 1024,
                        help="reject images that declare more pixels than this")
    parser.add_argument("--pca-variance", type=float, default=0.99,
                        help="keep the fewest components explaining this share of variance")
    parser.add_argument("--pca-k", type=int, default=0, help="keep exactly k components")
    parser.add_argument("--partitions", type=int, default=0,
                        help="repartition the images into N partitions (default: Spark's split)")
    parser.add_argument("--path-glob", default=None,
                        help="only files whose name matches this glob (binaryFile pathGlobFilter)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--master", default=None,
                        help="Spark master when not run through spark-submit (e.g. local[2])")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="Spark property for the session (repeatable), like spark-submit's "
                             "--conf; never put credentials here")
    args = parser.parse_args(argv)
    for item in args.conf:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--conf expects KEY=VALUE, got {item!r}")
    if args.batch_size < 1 or args.rows_per_batch < 1 or args.partitions < 0 or args.pca_k < 0:
        parser.error("--batch-size and --rows-per-batch must be >= 1, --partitions and --pca-k >= 0")
    if not 0 < args.pca_variance <= 1:
        parser.error("--pca-variance must be in (0, 1]")
    return args


def log(message):
    print(f"orchard.spark: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------- job
def run(spark, args):
    start = time.monotonic()
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.rows_per_batch))
    # Only the job's own _SUCCESS, at the top, last.
    spark._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")

    out = HadoopFs(spark, args.output)
    if out.exists():
        if args.overwrite:
            out.delete()
        elif not out.is_empty_dir():
            raise FileExistsError(f"output {out.root} already exists: pass --overwrite to replace it")
    inp = HadoopFs(spark, args.input)
    if not inp.exists():
        raise FileNotFoundError(f"input {inp.root} does not exist")

    model_path = args.model or orchard.default_model_path()
    expected = args.model_sha256
    if not expected and args.model is None and not os.environ.get("ORCHARD_MODEL"):
        expected = orchard.DEFAULT_MODEL_SHA256
    model_bytes = read_model(spark, model_path)
    task_cpus = int(spark.conf.get("spark.task.cpus", "1"))
    # Checked once here (checksum, contract); executors then trust the same bytes.
    probe = orchard.Embedder(model_bytes, output_name=args.output_name, threads=1,
                             expected_sha256=expected, model_name=f"'{model_path}'")
    sha256, dim = probe.sha256, probe.dim
    del probe
    sc = spark.sparkContext
    model_broadcast = sc.broadcast(model_bytes)
    del model_bytes
    embedder_options = {"output_name": args.output_name, "threads": task_cpus,
                        "expected_sha256": sha256, "batch_size": args.batch_size,
                        "decode_threads": task_cpus, "max_pixels": args.max_pixels,
                        "model_name": f"'{model_path}'"}

    # 1-3. featurize, write features + errors
    reader = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    if args.path_glob:
        reader = reader.option("pathGlobFilter", args.path_glob)
    images = reader.load(inp.root).select("path", "content")
    if args.partitions:
        images = images.repartition(args.partitions)
    root = inp.root
    featurized = images.mapInArrow(
        lambda batches: featurize_partition(batches, root, model_broadcast, embedder_options),
        FEATURIZED_SCHEMA)
    from pyspark import StorageLevel
    featurized = featurized.persist(StorageLevel.MEMORY_AND_DISK)
    featurize_start = time.monotonic()
    log(f"featurizing {inp.root}")
    featurized.where("stage IS NULL").select("path", "label", "features") \
        .write.mode("error").parquet(out.uri("features"))
    featurized.where("stage IS NOT NULL").select("path", "stage", "message") \
        .write.mode("error").parquet(out.uri("errors"))
    counts = {row["failed"]: row["n"] for row in
              featurized.selectExpr("stage IS NOT NULL AS failed").groupBy("failed")
              .count().withColumnRenamed("count", "n").collect()}
    featurize_seconds = time.monotonic() - featurize_start
    featurized.unpersist()
    ok, failed = counts.get(False, 0), counts.get(True, 0)
    if ok + failed == 0:
        raise ValueError(f"no files under {inp.root}")
    log(f"{ok} images ok, {failed} failed in {featurize_seconds:.1f}s")

    # 4. PCA statistics per partition of the written features, merged on the driver
    fit_start = time.monotonic()
    features = spark.read.parquet(out.uri("features"))
    parts = [row.stats for row in features.select("features").mapInArrow(
        stats_partition, STATS_SCHEMA).collect()]
    if not parts:
        raise ValueError("no image could be featurized: nothing to fit PCA on")
    model_json = orchard.fit_pca(orchard.merge_stats([bytes(p) for p in parts]),
                                 args.pca_variance, args.pca_k)
    model = json.loads(model_json)
    fit_seconds = time.monotonic() - fit_start

    # 5. projection
    project_start = time.monotonic()
    json_broadcast = sc.broadcast(model_json)
    features.mapInArrow(lambda batches: project_partition(batches, json_broadcast), PCA_SCHEMA) \
        .write.mode("error").parquet(out.uri("pca"))
    project_seconds = time.monotonic() - project_start

    # 6. model, report, _SUCCESS (last)
    k = model["k"]
    cumulative = model["cumulative_explained_variance_ratio"]
    out.write("pca_model/model.json", model_json)
    out.write("pca_model/components.parquet", components_parquet(model))
    title = f"PCA of {model['n']} feature vectors: {k} components explain the threshold"
    out.write("report/scree.svg", orchard.scree_svg(model_json, title))
    total = time.monotonic() - start
    summary = {
        "orchard_version": orchard.__version__,
        "command": "spark",
        "engine": {"spark_version": spark.version, "master": sc.master,
                   "default_parallelism": sc.defaultParallelism, "task_cpus": task_cpus},
        "input": args.input,
        "output": args.output,
        "model": {"path": model_path, "output": args.output_name, "sha256": sha256, "dim": dim},
        "batch_size": args.batch_size,
        "rows_per_batch": args.rows_per_batch,
        "images": {"listed": ok + failed, "ok": ok, "failed": failed},
        "images_per_second": (ok + failed) / featurize_seconds if featurize_seconds > 0 else 0.0,
        "seconds": {"featurize": featurize_seconds, "fit_pca": fit_seconds,
                    "project": project_seconds, "total": total},
        "pca": {"k": k, "n": model["n"], "dim": model["dim"],
                "variance_threshold": model["variance_threshold"],
                "cumulative_explained_variance_ratio": cumulative},
    }
    out.write("report/summary.json", json.dumps(summary, indent=2))
    out.write("_SUCCESS", b"")
    log(f"pca k={k} explains {100 * cumulative:.2f} % of the variance (n={model['n']})")
    log(f"done in {total:.1f}s: {out.root}")
    return summary


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from pyspark.sql import SparkSession

    # Executors run this interpreter (which has orchard and pyarrow) unless told otherwise
    # (PYSPARK_PYTHON, or spark.pyspark.python as EMR sets it).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("orchard")
    if args.master:
        builder = builder.master(args.master)
    for item in args.conf:
        key, _, value = item.partition("=")
        builder = builder.config(key.strip(), value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    try:
        run(spark, args)
    except (orchard.OrchardError, OSError, ValueError) as error:
        log(f"error: {error}")
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    # Run the functions of the importable module orchard.spark (not of __main__), so that
    # Spark pickles them by reference and the executors' Embedder cache works.
    from orchard import spark as _module

    sys.exit(_module.main())
