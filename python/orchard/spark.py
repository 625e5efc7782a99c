"""orchard on Apache Spark: the CLI's engine, scheduled by Spark.

    python -m orchard.spark --input DIR_OR_URI --output DIR_OR_URI [options]
    spark-submit [spark options] launcher.py --input ... --output ...   (see docs/spark.md)

Spark schedules, the C++ engine works. This file is orchestration only; every step is
the library the CLI runs, through orchard._native:

  1. the driver lists the input exactly as the CLI does (same sorted listing, same
     `path`/`label` rules, hidden names skipped, non-UTF-8 names escaped) and splits it into
     shards of whole parts (part p = images p*rows_per_part .. of the listing, as the CLI);
  2. it begins the output with the CLI's commit protocol (staging under _temporary, the
     job fingerprint for --resume, --overwrite) and broadcasts the model bytes once;
  3. each task runs the CLI's pipeline on its shard (FeaturizeShard: concurrent reads
     from local disk or S3, decoding overlapping inference on the task's cores, the CLI's
     Parquet part writer with the CLI's part names, error rows) and returns only counts and
     its PCA statistics; parts already complete (a retried task, --resume) are reused;
  4. the driver merges the statistics, fits, and a second native pass per shard projects
     the features parts into pca parts;
  5. pca_model/, report/ and _SUCCESS (last) are published as the CLI publishes them.

Row data never crosses the JVM/Python boundary. Input and output are local paths,
file: URIs or object-store URIs (s3://, s3a:// are the same bucket/key to the engine);
credentials come from the standard AWS chain of every process (an instance role on EMR),
the endpoint from --endpoint-url or the Hadoop setting fs.s3a.endpoint.

featurize_dataframe() is the DataFrame-level function for users who already hold images
in a DataFrame (a binary `content` column): the same decode + embed, through mapInArrow.

Exit codes: 0 success, 1 the job failed, 2 usage error, 130 interrupted (SIGINT or SIGTERM:
the Spark jobs are cancelled, nothing is published, --resume continues).
"""
import argparse
import fnmatch
import json
import os
import signal
import socket
import sys
import threading
import time

import numpy as np
import pyarrow as pa

import orchard
from orchard import _native

# The published entries of a finished output, in the CLI's order.
OUTPUT_ENTRIES = [_native.FEATURES_DIR, _native.ERRORS_DIR, _native.PCA_DIR,
                  _native.PCA_MODEL_DIR, _native.REPORT_DIR]


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


def task_cores():
    """Cores this task may use: spark.task.cpus (one engine per task, using them all)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    try:
        return max(1, int(context.cpus())) if context is not None else 1
    except (AttributeError, TypeError, ValueError):
        return 1


def peak_rss_bytes():
    """This process's resident high-water mark (VmHWM): the Python worker holds the whole
    native pipeline (ONNX Runtime, decodes, batches), which is what YARN's memory check
    measures beyond the executor JVM. 0 where /proc is not available."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def executor_id():
    """Which executor ran this task, for summary.json: the YARN container (CONTAINER_ID,
    set by the NodeManager for every process of the container), else host and the pid of
    the executor's Python daemon (the workers' parent: one per executor)."""
    return os.environ.get("CONTAINER_ID") or f"{socket.gethostname()}:{os.getppid()}"


def featurize_shard_task(shard, job, model_broadcast):
    """One shard through the CLI's pipeline; returns counts + serialized PCA statistics."""
    cores = task_cores()
    options = dict(job["embedder"], threads=cores, decode_threads=cores)
    embedder = _embedder(model_broadcast, options)
    result = embedder.featurize_shard(
        job["input"], job["staging"], shard["sources"], shard["sizes"], shard["first_part"],
        job["rows_per_part"], cores, job["endpoint_url"], job["region"])
    result["shards"] = 1
    result["worker_peak_rss_bytes"] = peak_rss_bytes()
    result["executors"] = [executor_id()]
    return result


def project_shard_task(shard, job, model_json_broadcast):
    """The shard's features parts -> pca parts (same names)."""
    start = time.monotonic()
    parts = list(range(shard["first_part"], shard["first_part"] + shard["parts"]))
    _native.project_parts(job["staging"], parts, model_json_broadcast.value, task_cores(),
                          job["endpoint_url"], job["region"])
    return time.monotonic() - start


_SUMMED = ("images", "ok", "failed", "parts_written", "parts_reused", "images_reused",
           "read_seconds", "decode_seconds", "embed_seconds", "write_seconds", "wall_seconds",
           "shards")


def merge_results(left, right):
    """Counts add up; PCA statistics merge (both are associative, so any tree works)."""
    merged = {key: left[key] + right[key] for key in _SUMMED}
    merged["worker_peak_rss_bytes"] = max(left["worker_peak_rss_bytes"],
                                          right["worker_peak_rss_bytes"])
    merged["executors"] = sorted(set(left["executors"]) | set(right["executors"]))
    stats = [s for s in (left["pca_stats"], right["pca_stats"]) if s]
    merged["pca_stats"] = orchard.merge_stats(stats) if len(stats) > 1 else (stats[0] if stats else b"")
    return merged


# --------------------------------------------------------- DataFrame-level function
def _vector_column(matrix):
    """float32 [n, d] -> list<float32> without copying the values."""
    n, d = matrix.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if n else np.zeros(1, np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(matrix).reshape(-1)))


FEATURIZED_SCHEMA = "path string, features array<float>, stage string, message string"


def _featurize_batches(batches, model_broadcast, options, path_column, content_column):
    embedder = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if embedder is None:
            embedder = _embedder(model_broadcast, options)
        paths = batch.column(path_column)
        contents = batch.column(content_column).to_pylist()
        features, ok, errors = embedder.embed(contents)
        del contents
        order = ok.tolist() + [index for index, _, _ in errors]
        vectors = _vector_column(features)
        if errors:
            vectors = pa.concat_arrays([vectors, pa.nulls(len(errors), vectors.type)])
        yield pa.RecordBatch.from_arrays(
            [paths.take(pa.array(order, pa.int64())), vectors,
             pa.array([None] * len(ok) + [stage for _, stage, _ in errors], pa.string()),
             pa.array([None] * len(ok) + [message for _, _, message in errors], pa.string())],
            names=["path", "features", "stage", "message"])


def featurize_dataframe(df, model_bytes=None, path_column="path", content_column="content",
                        batch_size=32, max_pixels=64 * 1024 * 1024, output_name="features"):
    """(path, content binary) rows -> (path, features array<float>, stage, message), with
    the CLI's decode, preprocessing and model. A bad image gives a row with null features
    and the stage/message the CLI would write to its errors table."""
    spark = df.sparkSession
    if model_bytes is None:
        with open(orchard.default_model_path(), "rb") as file:
            model_bytes = file.read()
    sha256 = orchard.Embedder(model_bytes, output_name=output_name, threads=1).sha256
    broadcast = spark.sparkContext.broadcast(model_bytes)
    options = {"output_name": output_name, "threads": 1, "expected_sha256": sha256,
               "batch_size": batch_size, "decode_threads": 1, "max_pixels": max_pixels,
               "model_name": "model"}
    return df.select(path_column, content_column).mapInArrow(
        lambda batches: _featurize_batches(batches, broadcast, options, path_column,
                                           content_column), FEATURIZED_SCHEMA)


# ------------------------------------------------------------------ driver-side helpers
def featurize_job(args, staging, rows_per_part, storage, sha256, model_path):
    """What every featurize task needs besides its shard (small: strings and numbers)."""
    return {"input": args.input, "staging": staging, "rows_per_part": rows_per_part,
            "endpoint_url": storage["endpoint_url"], "region": storage["region"],
            "embedder": {"output_name": args.output_name, "expected_sha256": sha256,
                         "batch_size": args.batch_size, "max_pixels": args.max_pixels,
                         "max_file_bytes": args.max_file_bytes,
                         "model_name": f"'{model_path}'"}}


def featurize_pass(sc, shards, job, model_broadcast, task, description):
    """One Spark job: task(shard, job, model_broadcast) per shard, results merged with
    merge_results -> (totals, seconds)."""
    start = time.monotonic()
    sc.setJobDescription(description)
    totals = sc.parallelize(shards, len(shards)) \
        .map(lambda shard: task(shard, job, model_broadcast)) \
        .treeReduce(merge_results)
    return totals, time.monotonic() - start


def plan_shards(listing, rows_per_part, num_shards):
    """Contiguous shards of whole parts: shard boundaries fall on part boundaries, so every
    part (and its file name) is the one the CLI writes."""
    num_parts = (len(listing) + rows_per_part - 1) // rows_per_part
    num_shards = max(1, min(num_shards, num_parts))
    shards = []
    for index in range(num_shards):
        first = index * num_parts // num_shards
        last = (index + 1) * num_parts // num_shards
        rows = listing[first * rows_per_part:last * rows_per_part]
        shards.append({"index": index, "first_part": first, "parts": last - first,
                       "sources": [row[0] for row in rows],
                       "sizes": [row[1] for row in rows]})
    return shards


def storage_options(spark, args):
    """Endpoint and region for object stores: the flags, else the S3A settings of the
    session (so one --conf serves Spark's own S3A reads and the engine), else the AWS
    defaults (environment, instance role)."""
    conf = spark.sparkContext.getConf()
    endpoint = args.endpoint_url or conf.get("spark.hadoop.fs.s3a.endpoint", "")
    region = args.region or conf.get("spark.hadoop.fs.s3a.endpoint.region", "")
    return {"endpoint_url": endpoint, "region": region}


def read_model(model, storage):
    """The model's bytes: a local file, or an object-store URI."""
    if os.path.exists(model):
        with open(model, "rb") as file:
            return file.read()
    return _native.read_file(model, **storage)


# Parts per shard when the cluster's size is unbounded (dynamic allocation without
# maxExecutors): a shard of 8 parts (8,192 images by default) keeps a task busy for about a
# minute per core group, long enough to amortize its model load, short enough to balance.
PARTS_PER_SHARD_UNBOUNDED = 8
UNBOUNDED_EXECUTORS = 100_000  # a maxExecutors this large (Spark's default is 2^31-1) = none
SHARDS_PER_SLOT = 4  # enough to balance uneven executors, few enough to stream many batches


def _conf_int(conf, key):
    """An integer Spark setting, or None when unset or not a whole number (e.g. infinity)."""
    value = conf.get(key, None)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def cluster_slots(spark):
    """How many tasks the cluster can run at once, from its configuration (never from
    defaultParallelism when executors come and go: under dynamic allocation the session
    starts with none, and defaultParallelism is then 2 whatever the cluster).
    -> (slots or None when unbounded, the rule used)."""
    sc = spark.sparkContext
    conf = sc.getConf()
    task_cpus = max(1, _conf_int(conf, "spark.task.cpus") or 1)
    executor_cores = max(1, _conf_int(conf, "spark.executor.cores") or 1)
    per_executor = max(1, executor_cores // task_cpus)
    if sc.master.startswith("local"):
        return max(1, sc.defaultParallelism // task_cpus), "local cores / spark.task.cpus"
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        maximum = _conf_int(conf, "spark.dynamicAllocation.maxExecutors")
        if maximum is None or maximum >= UNBOUNDED_EXECUTORS:
            return None, "dynamic allocation without maxExecutors"
        return max(1, maximum) * per_executor, \
            "dynamicAllocation.maxExecutors x executor.cores / task.cpus"
    instances = _conf_int(conf, "spark.executor.instances")
    if instances:
        return instances * per_executor, "executor.instances x executor.cores / task.cpus"
    cores_max = _conf_int(conf, "spark.cores.max")
    if cores_max:
        return max(1, cores_max // task_cpus), "cores.max / task.cpus"
    return max(1, sc.defaultParallelism // task_cpus), "defaultParallelism / task.cpus"


def default_shards(spark, num_parts):
    """Shards from the work and the cluster: SHARDS_PER_SLOT per task the cluster can run
    at once, or PARTS_PER_SHARD_UNBOUNDED parts each when its size is unbounded; never more
    shards than parts (plan_shards). -> (shards, slots or None, the rule used)."""
    slots, rule = cluster_slots(spark)
    if slots is None:
        shards = -(-num_parts // PARTS_PER_SHARD_UNBOUNDED)
        rule += f": {PARTS_PER_SHARD_UNBOUNDED} parts per shard"
    else:
        shards = SHARDS_PER_SLOT * slots
    return max(1, min(shards, num_parts)), slots, rule


def add_featurize_arguments(parser):
    """How images become features: the flags of both Spark jobs, with the CLI's defaults."""
    parser.add_argument("--output-name", default="features",
                        help="model output holding the embedding")
    parser.add_argument("-b", "--batch-size", type=int, default=32,
                        help="images per inference call")
    parser.add_argument("--rows-per-part", type=int, default=1024,
                        help="rows per output part file (as the CLI)")
    parser.add_argument("--max-pixels", type=int, default=64 * 1024 * 1024,
                        help="reject images that declare more pixels than this")
    parser.add_argument("--max-file-bytes", type=int, default=_native.DEFAULT_MAX_FILE_BYTES,
                        help="files larger than this are error rows, never read")
    parser.add_argument("--partitions", "--shards", dest="shards", type=int, default=0,
                        help="split the work into N tasks (default: 4 per task the cluster "
                             "can run at once, from its maximum executors; see docs/spark.md)")


def add_cluster_arguments(parser):
    """Where the object store and Spark are: the flags of both Spark jobs."""
    parser.add_argument("--endpoint-url", default="",
                        help="S3-compatible endpoint (default: fs.s3a.endpoint, AWS_ENDPOINT_URL)")
    parser.add_argument("--region", default="", help="object-store region")
    parser.add_argument("--master", default=None,
                        help="Spark master when not run through spark-submit (e.g. local[2])")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="Spark property for the session (repeatable), like spark-submit's "
                             "--conf; never put credentials here")


def check_shared_arguments(parser, args):
    """Refuses bad values of the flags add_featurize_arguments and add_cluster_arguments add."""
    for item in args.conf:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--conf expects KEY=VALUE, got {item!r}")
    if min(args.batch_size, args.rows_per_part, args.max_file_bytes) < 1 or args.shards < 0:
        parser.error("--batch-size, --rows-per-part and --max-file-bytes must be >= 1, "
                     "--shards >= 0")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m orchard.spark",
        description="orchard on Spark: labelled images -> CNN features -> PCA -> Parquet")
    parser.add_argument("-i", "--input", required=True,
                        help="input folder or URI (s3://, s3a://), one sub-folder per label")
    parser.add_argument("-o", "--output", required=True, help="output folder or URI")
    parser.add_argument("-m", "--model", default=None,
                        help="ONNX model, local path or URI (default: the shipped MobileNetV2)")
    parser.add_argument("--model-sha256", default="",
                        help="refuse the model unless its sha256 matches (checked by default "
                             "for the shipped model)")
    add_featurize_arguments(parser)
    parser.add_argument("--rows-per-batch", type=int, default=128,
                        help="images per Arrow batch of featurize_dataframe() (the batch job "
                             "reads files natively and does not use it)")
    parser.add_argument("--pca-variance", type=float, default=0.99,
                        help="keep the fewest components explaining this share of variance")
    parser.add_argument("--pca-k", type=int, default=0, help="keep exactly k components")
    parser.add_argument("--path-glob", default=None,
                        help="only files whose name matches this glob")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace an existing output")
    existing.add_argument("--resume", action="store_true",
                          help="continue an interrupted run of the same job: only the parts "
                               "not yet written are computed")
    add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    check_shared_arguments(parser, args)
    if min(args.batch_size, args.rows_per_batch, args.rows_per_part) < 1 or \
            args.shards < 0 or args.pca_k < 0:
        parser.error("--batch-size, --rows-per-batch and --rows-per-part must be >= 1, "
                     "--shards and --pca-k >= 0")
    if not 0 < args.pca_variance <= 1:
        parser.error("--pca-variance must be in (0, 1]")
    return args


def log(message):
    print(f"orchard.spark: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------- job
def run(spark, args):
    start = time.monotonic()
    sc = spark.sparkContext
    storage = storage_options(spark, args)

    # Model: checked once here (checksum, contract); executors then trust the same bytes.
    model_path = args.model or orchard.default_model_path()
    expected = args.model_sha256
    if not expected and args.model is None and not os.environ.get("ORCHARD_MODEL"):
        expected = orchard.DEFAULT_MODEL_SHA256
    model_bytes = read_model(model_path, storage)
    probe = orchard.Embedder(model_bytes, output_name=args.output_name, threads=1,
                             expected_sha256=expected, model_name=f"'{model_path}'")
    sha256, dim = probe.sha256, probe.dim
    del probe

    # 1. The CLI's listing, split into shards of whole parts.
    list_start = time.monotonic()
    listing = _native.list_images(args.input, **storage)
    if args.path_glob:
        listing = [(source, size, mtime) for source, size, mtime in listing
                   if fnmatch.fnmatchcase(os.fsdecode(source).rsplit("/", 1)[-1], args.path_glob)]
    if not listing:
        raise ValueError(f"no files under input '{args.input}': expected one sub-folder of "
                         "images per label")
    list_seconds = time.monotonic() - list_start
    check_interrupted()
    rows_per_part = _native.effective_rows_per_part(args.rows_per_part, args.batch_size)
    num_parts = -(-len(listing) // rows_per_part)
    if args.shards:
        planned, slots, shard_rule = args.shards, None, "--partitions"
    else:
        planned, slots, shard_rule = default_shards(spark, num_parts)
    shards = plan_shards(listing, rows_per_part, planned)

    # 2. The CLI's commit protocol: staging, fingerprint (for --resume), policy.
    fingerprint = _native.job_fingerprint(
        args.input, [s for s, _, _ in listing], [z for _, z, _ in listing],
        [m for _, _, m in listing], sha256, args.output_name,
        rows_per_part, args.batch_size, args.max_pixels, args.max_file_bytes)
    policy = "overwrite" if args.overwrite else "resume" if args.resume else "refuse"
    committer = _native.OutputCommitter(args.output, policy, fingerprint, args.input, **storage)
    staging = committer.staging
    if committer.resuming:
        committer.remove_stray_staged_files((len(listing) + rows_per_part - 1) // rows_per_part)
        log("resuming: parts already written are reused once checked")

    model_broadcast = sc.broadcast(model_bytes)
    del model_bytes
    job = featurize_job(args, staging, rows_per_part, storage, sha256, model_path)

    # 3. Featurize: one native pipeline per task, counts and statistics back.
    log(f"featurizing {len(listing)} files of {args.input} in {len(shards)} shards "
        f"({shard_rule}{'' if slots is None else f': {slots} slots'})")
    totals, featurize_seconds = featurize_pass(sc, shards, job, model_broadcast,
                                               featurize_shard_task, "orchard: featurize")
    check_interrupted()
    ok, failed = totals["ok"], totals["failed"]
    reused = totals["images_reused"]
    log(f"{ok} images ok, {failed} failed in {featurize_seconds:.1f}s"
        + (f" ({reused} reused from the interrupted run)" if reused else ""))
    if not totals["pca_stats"]:
        raise ValueError("no image could be featurized: nothing to fit PCA on (see the errors)")

    # 4. PCA: merged statistics -> model, then a native projection pass per shard.
    fit_start = time.monotonic()
    model_json = orchard.fit_pca(totals["pca_stats"], args.pca_variance, args.pca_k)
    model = json.loads(model_json)
    _native.write_pca_model(staging, model_json, **storage)
    fit_seconds = time.monotonic() - fit_start
    project_start = time.monotonic()
    sc.setJobDescription("orchard: project")
    json_broadcast = sc.broadcast(model_json)
    sc.parallelize(shards, len(shards)) \
        .map(lambda shard: project_shard_task(shard, job, json_broadcast)).collect()
    project_seconds = time.monotonic() - project_start
    _native.ensure_errors_table(staging, **storage)
    check_interrupted()

    # 5. Report and publish (_SUCCESS last).
    k = model["k"]
    cumulative = model["cumulative_explained_variance_ratio"]
    total = time.monotonic() - start
    processed = totals["images"]
    summary = {
        "orchard_version": orchard.__version__,
        "command": "spark",
        "engine": {"spark_version": spark.version, "master": sc.master,
                   "default_parallelism": sc.defaultParallelism,
                   "task_cpus": int(sc.getConf().get("spark.task.cpus", "1")),
                   "shards": len(shards), "shard_rule": shard_rule, "cluster_slots": slots,
                   "executors_used": len(totals["executors"]),
                   "worker_peak_rss_bytes": totals["worker_peak_rss_bytes"]},
        "input": args.input,
        "output": args.output,
        "model": {"path": model_path, "output": args.output_name, "sha256": sha256, "dim": dim},
        "batch_size": args.batch_size,
        "images": {"listed": len(listing), "ok": ok, "failed": failed,
                   "reused_from_interrupted_run": reused},
        "images_per_second": processed / featurize_seconds if featurize_seconds > 0 else 0.0,
        "seconds": {"list": list_seconds, "featurize": featurize_seconds, "fit_pca": fit_seconds,
                    "project": project_seconds, "total": total},
        "busy_seconds": {stage: totals[f"{stage}_seconds"]
                         for stage in ("read", "decode", "embed", "write")},
        "pca": {"k": k, "n": model["n"], "dim": model["dim"],
                "variance_threshold": model["variance_threshold"],
                "cumulative_explained_variance_ratio": cumulative},
    }
    _native.write_file(f"{staging}/{_native.SUMMARY_JSON}", json.dumps(summary, indent=2).encode(),
                       **storage)
    _native.write_html_report(staging, endpoint_url=storage["endpoint_url"],
                              region=storage["region"])  # report/index.html
    check_interrupted()  # the last point where nothing is published yet
    committer.publish(OUTPUT_ENTRIES)
    log(f"pca k={k} explains {100 * cumulative:.2f} % of the variance (n={model['n']})")
    log(f"done in {total:.1f}s: {args.output}")
    return summary


def local_cores(master):
    """N for local[N] / local[N,F]; the machine's cores for local[*]; None otherwise."""
    if not master or not master.startswith("local"):
        return None
    inside = master[len("local"):].strip("[]").split(",")[0]
    if inside in ("", "*"):
        return os.cpu_count() or 1
    return int(inside) if inside.isdigit() else None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["predict"]:  # python -m orchard.spark predict ... (orchard predict's twin)
        from orchard import spark_predict

        return spark_predict.main(argv[1:])
    args = parse_args(argv)
    code, _ = run_in_session("orchard", args, run)
    return code


EXIT_INTERRUPTED = 130  # as the CLI: 128 + SIGINT


class JobInterrupted(Exception):
    """SIGINT or SIGTERM reached the driver (see install_interrupt_handlers)."""


_SIGNALS_RECEIVED = []  # names of the signals the handler saw (the driver's main thread)


def check_interrupted():
    """Raises JobInterrupted once a signal came: called between the job's steps, so that a
    signal that arrived while no Spark job ran still stops the run before it publishes."""
    if _SIGNALS_RECEIVED:
        raise JobInterrupted(_SIGNALS_RECEIVED[0])


def install_interrupt_handlers(sc):
    """SIGINT/SIGTERM (Ctrl-C, `timeout`, a scheduler) -> cancel every Spark job and stop.
    The handler only records the signal and asks Spark, from another thread, to cancel the
    running jobs: the main thread is usually inside a py4j call waiting for a job, and an
    exception raised there would leave the py4j connection out of step (the next call, even
    spark.stop(), then fails). The cancelled job returns its error to the main thread, and
    run_in_session turns whatever surfaces after a signal into JobInterrupted; between jobs,
    check_interrupted() stops the run. A second signal acts as usual (ends the process)."""
    def cancel():
        try:
            sc.cancelAllJobs()
        except Exception:  # noqa: BLE001 - the session may already be going down
            pass

    def handler(signum, _frame):
        _SIGNALS_RECEIVED.append(signal.Signals(signum).name)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        threading.Thread(target=cancel, name="orchard-cancel", daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, handler)


def run_in_session(app_name, args, job):
    """Starts the Spark session (args.master, args.conf), runs job(spark, args) and stops
    it; -> (exit code, what job returned). Failures become one line on stderr: the engine's
    message, or the Python error of a task that failed for good, without the JVM trace."""
    from py4j.protocol import Py4JJavaError
    from pyspark.sql import SparkSession

    # Executors run this interpreter (which has orchard and pyarrow) unless told otherwise
    # (PYSPARK_PYTHON, or spark.pyspark.python as EMR sets it).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if args.master:
        builder = builder.master(args.master)
    settings = dict(item.partition("=")[::2] for item in args.conf)
    # In local mode, one task at a time gets every core, like the CLI (one engine, decoding
    # overlapping inference) instead of N single-core engines competing.
    cores = local_cores(args.master)
    if cores and "spark.task.cpus" not in settings:
        settings["spark.task.cpus"] = str(cores)
    for key, value in settings.items():
        builder = builder.config(key.strip(), value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    install_interrupt_handlers(spark.sparkContext)
    try:
        try:
            return 0, job(spark, args)
        except Exception:
            # Whatever surfaces after a signal (the cancelled job's error) is the interruption.
            if _SIGNALS_RECEIVED:
                raise JobInterrupted(_SIGNALS_RECEIVED[0]) from None
            raise
    except JobInterrupted as interrupted:
        log(f"interrupted ({interrupted}): the Spark jobs were cancelled; nothing was "
            "published (re-run with --resume to continue)")
        return EXIT_INTERRUPTED, None
    except (orchard.OrchardError, OSError, ValueError) as error:
        log(f"error: {error}")
        return 1, None
    except Py4JJavaError as error:
        cause = str(error.java_exception).strip().splitlines()
        python_error = [line for line in str(error).splitlines()
                        if "OrchardError" in line or "Error:" in line]
        log(f"error: a Spark task failed: {(python_error or cause or ['unknown'])[-1].strip()}")
        return 1, None
    finally:
        spark.stop()


if __name__ == "__main__":
    # Run the functions of the importable module orchard.spark (not of __main__), so that
    # Spark pickles them by reference and the executors' Embedder cache works.
    from orchard import spark as _module

    sys.exit(_module.main())
