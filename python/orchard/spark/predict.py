"""`orchard predict` on Apache Spark: the same rows, errors and metrics as the CLI.

    python -m orchard.spark predict -m MODEL_DIR -i IMAGES|EARLIER_OUTPUT -o PRED [options]

The design of orchard.spark (docs/spark.md), applied to the classifier of `orchard train`:

  1. the driver loads the classifier and refuses an embedding model (backbone) other than
     the one it was trained on, as the CLI does; it lists the images natively (the CLI's
     listing) and splits the listing into shards of whole parts;
  2. it begins PRED with the CLI's commit protocol (staging under _temporary, --overwrite);
  3. each task runs the CLI's pipeline on its shard (orchard.spark.featurize_shard_task):
     features + errors parts in staging, with the CLI's part names;
  4. a second native pass per shard of parts (classify::PredictParts, the code of
     `orchard predict`) reads features parts and writes predictions parts of the same name
     (path, label, predicted, probability, top5) and returns the parts' counts;
  5. the driver merges the counts natively into report/metrics.json (the CLI's metrics),
     writes report/summary.json and report/index.html, and publishes (_SUCCESS last).

With an earlier output as input (features/ and _SUCCESS), step 3 is skipped: its features
parts are predicted (the backbone recorded in its report/summary.json is checked). Row
data never crosses the JVM/Python boundary; MODEL_DIR, the input and the output must be
reachable from the executors (shared storage or s3://), as for orchard.spark.

Exit codes: 0 success, 1 the job failed, 2 usage error.
"""
import argparse
import json
import time

import orchard
from orchard import _native
from orchard.spark.cli import add_cluster_arguments, add_featurize_arguments, check_shared_arguments
from orchard.spark.session import log, storage_options
from orchard.spark.shards import default_shards
from orchard.spark.tasks import featurize_pass, task_cores

PREDICTIONS_DIR = _native.PREDICTIONS_DIR
COMMITTER_FINGERPRINT = "orchard-predict"  # as the CLI's predict job (no --resume)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m orchard.spark predict",
        description="orchard predict on Spark: images (or an earlier output) -> predictions")
    parser.add_argument("-m", "--model", required=True,
                        help="classifier folder written by `orchard train` (local or URI)")
    parser.add_argument("-i", "--input", required=True,
                        help="images (folder or URI, one sub-folder per label) or an earlier "
                             "orchard output (features/ + _SUCCESS)")
    parser.add_argument("-o", "--output", required=True, help="output folder or URI")
    parser.add_argument("--backbone", default=None,
                        help="embedding model (ONNX); must be the one the classifier was "
                             "trained on (default: the shipped MobileNetV2)")
    add_featurize_arguments(parser)
    add_cluster_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    args = parser.parse_args(argv)
    check_shared_arguments(parser, args)
    return args


# ------------------------------------------------------------- executor-side functions
def predict_task(part_names, job):
    """features parts -> predictions parts of the same names; returns their counts (JSON)."""
    return _native.predict_parts(job["model_dir"], job["features_dir"], part_names,
                                 job["predictions_dir"], task_cores(), job["endpoint_url"],
                                 job["region"])


# ------------------------------------------------------------------ driver-side helpers
def _join(uri, *names):
    return "/".join([uri.rstrip("/"), *names])


def recorded_model_sha256(output, storage):
    """The embedding model's sha256 in an earlier output's report/summary.json, or ""."""
    try:
        summary = json.loads(_native.read_file(_join(output, "report", "summary.json"), **storage))
        return str(summary["model"]["sha256"])
    except (orchard.OrchardError, OSError, ValueError, KeyError, TypeError):
        return ""


def plan_shards(listing, rows_per_part, num_shards):
    """Contiguous shards of whole parts (jobs::PlanShards' rule): every part and its file
    name is the one the CLI writes."""
    num_parts = (len(listing) + rows_per_part - 1) // rows_per_part
    num_shards = max(1, min(num_shards, num_parts))
    shards = []
    for index in range(num_shards):
        first = index * num_parts // num_shards
        last = (index + 1) * num_parts // num_shards
        rows = listing[first * rows_per_part:last * rows_per_part]
        shards.append({"index": index, "first_part": first, "parts": last - first,
                       "sources": [row[0] for row in rows], "sizes": [row[1] for row in rows]})
    return shards


def split_parts(names, num_shards):
    """Contiguous runs of part names, as even as possible."""
    num_shards = max(1, min(num_shards, len(names)))
    return [names[index * len(names) // num_shards:(index + 1) * len(names) // num_shards]
            for index in range(num_shards)]


# --------------------------------------------------------------------------------- job
def run(spark, args):
    start = time.monotonic()
    sc = spark.sparkContext
    storage = storage_options(spark, args)
    classifier = _native.load_classifier(args.model, **storage)

    def num_shards(num_parts):  # --partitions, else from the work and the cluster
        return args.shards or default_shards(spark, num_parts)[0]

    # Everything that can refuse the job is checked before the output is touched.
    earlier_parts = _native.list_parts(_join(args.input, _native.FEATURES_DIR), **storage)
    from_output = bool(earlier_parts) and _native.exists(_join(args.input, "_SUCCESS"), **storage)
    summary = {"orchard_version": orchard.__version__, "command": "spark predict",
               "input": args.input, "output": args.output, "classifier": args.model}
    if from_output:
        sha256 = recorded_model_sha256(args.input, storage)
        classifier.check_backbone(sha256, f"the features of {args.input}")
    else:
        listing = _native.list_images(args.input, **storage)
        if not listing:
            raise ValueError(f"no files under input '{args.input}': expected image files (one "
                             "sub-folder per label) or an earlier output")
        featurize_options = _native.resolve_job_options({
            "input": args.input, "model": args.backbone or "",
            "shipped_model": orchard.shipped_model_path(), "output_name": args.output_name,
            "batch_size": args.batch_size, "rows_per_part": args.rows_per_part,
            "max_pixels": args.max_pixels, "max_file_bytes": args.max_file_bytes, **storage})
        model_path = featurize_options["model"]
        model_bytes = _native.read_file(model_path, **storage)
        probe = orchard.Embedder(model_bytes, output_name=args.output_name, threads=1,
                                 expected_sha256=featurize_options["model_sha256"],
                                 model_name=f"'{model_path}'")
        sha256, dim = probe.sha256, probe.dim
        del probe
        classifier.check_backbone(sha256, f"the features of model '{model_path}'")
        if dim != classifier.embedding_dim:
            raise ValueError(f"model '{model_path}' has {dim}-d features but the classifier "
                             f"expects {classifier.embedding_dim}-d embeddings")

    policy = "overwrite" if args.overwrite else "refuse"
    committer = _native.OutputCommitter(args.output, policy, COMMITTER_FINGERPRINT, args.input,
                                        **storage)
    staging = committer.staging
    publish = [PREDICTIONS_DIR, _native.REPORT_DIR]
    job = {"model_dir": args.model, "predictions_dir": _join(staging, PREDICTIONS_DIR),
           "endpoint_url": storage["endpoint_url"], "region": storage["region"]}

    if from_output:
        job["features_dir"] = _join(args.input, _native.FEATURES_DIR)
        part_names = earlier_parts
        summary["features_from"] = args.input
        summary["model"] = {"sha256": sha256}
        log(f"predicting the {len(part_names)} features parts of {args.input}")
    else:
        # The CLI's featurize step, as orchard.spark runs it: shards of whole parts.
        rows_per_part = _native.effective_rows_per_part(args.rows_per_part, args.batch_size)
        shards = plan_shards(listing, rows_per_part,
                             num_shards(-(-len(listing) // rows_per_part)))
        model_broadcast = sc.broadcast(model_bytes)
        del model_bytes
        log(f"featurizing {len(listing)} files of {args.input} in {len(shards)} shards")
        outcome, _, _, featurize_seconds = featurize_pass(
            sc, shards, {"options": featurize_options, "staging": staging, "sha256": sha256},
            model_broadcast, "orchard predict: featurize")
        totals = _native.outcome_counts(outcome)
        log(f"{totals['ok']} images ok, {totals['failed']} failed in {featurize_seconds:.1f}s")
        _native.ensure_errors_table(staging, **storage)
        job["features_dir"] = _join(staging, _native.FEATURES_DIR)
        part_names = _native.list_parts(job["features_dir"], **storage)
        publish += [_native.FEATURES_DIR, _native.ERRORS_DIR]
        summary["model"] = {"path": model_path, "sha256": sha256}
        summary["images"] = {"listed": len(listing), "ok": totals["ok"],
                             "failed": totals["failed"]}
        summary["images_per_second"] = \
            totals["images"] / featurize_seconds if featurize_seconds > 0 else 0.0
        summary["seconds"] = {"featurize": featurize_seconds}

    # The CLI's prediction pass, per shard of parts; the counts come back.
    predict_start = time.monotonic()
    sc.setJobDescription("orchard predict: predict")
    groups = split_parts(part_names, num_shards(len(part_names)))
    counts = sc.parallelize(groups, len(groups)) \
        .map(lambda names: predict_task(names, job)).collect() if part_names else []
    summary.setdefault("seconds", {})["predict"] = time.monotonic() - predict_start

    # report/metrics.json, as the CLI computes it (merged counts), when rows are labelled.
    metrics_text = _native.prediction_metrics(classifier, counts)
    metrics = json.loads(metrics_text)
    summary["rows"] = metrics["rows"]
    if metrics["labelled_rows"] > 0:
        _native.write_file(_join(staging, _native.PREDICT_METRICS_JSON),
                           metrics_text.encode(), **storage)
        for key in ("accuracy", "top5_accuracy", "labelled_rows"):
            summary[key] = metrics[key]
    summary["engine"] = {"spark_version": spark.version, "master": sc.master,
                         "default_parallelism": sc.defaultParallelism,
                         "task_cpus": int(sc.getConf().get("spark.task.cpus", "1")),
                         "shards": len(groups)}
    summary["seconds"]["total"] = time.monotonic() - start
    _native.write_file(_join(staging, _native.SUMMARY_JSON),
                       json.dumps(summary, indent=2).encode(), **storage)
    _native.write_html_report(staging, endpoint_url=storage["endpoint_url"],
                              region=storage["region"])  # reads metrics.json
    committer.publish(publish)
    if "accuracy" in summary:
        log(f"accuracy {100 * summary['accuracy']:.2f} % (top-5 "
            f"{100 * summary['top5_accuracy']:.2f} %) on {summary['labelled_rows']} labelled rows")
    log(f"done in {summary['seconds']['total']:.1f}s: {args.output}")
    return summary
