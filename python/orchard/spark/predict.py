"""`orchard predict` on Apache Spark: the same rows, errors and metrics as the CLI.

    python -m orchard.spark predict -m MODEL_DIR -i IMAGES|EARLIER_OUTPUT -o PRED [options]

The sequence is the C++ job's (jobs::PredictDriver, the steps the CLI's PredictJob runs in
one process); this file starts the steps, schedules their shards as Spark tasks and hands
the answers back:

  PredictDriver(options)   load the classifier; list and check the model against it (or an
                           earlier output's recorded model); begin the commit; plan shards
  featurize pass           images only: one task per shard, the CLI's pipeline
  finish_featurize         errors table; the features parts to predict
  predict pass             one task per group of parts: classify::PredictParts, counts back
  finish_predict, finish   report/metrics.json, summary.json, index.html, publish

With an earlier output as input (features/ and _SUCCESS) its features parts are predicted.
Row data never crosses the JVM/Python boundary; MODEL_DIR, the input and the output must be
reachable from the executors (shared storage or s3://), as for orchard.spark.

Exit codes: 0 success, 1 the job failed, 2 usage error.
"""
import argparse
import json
import time

from orchard import _native
from orchard.spark.cli import add_cluster_arguments, add_featurize_arguments, check_shared_arguments
from orchard.spark.job import engine_facts, featurize_job_options, planned_shards
from orchard.spark.session import check_interrupted, log, storage_options
from orchard.spark.tasks import featurize_pass, shard_tasks, task_cores


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


# ------------------------------------------------------------- executor-side function
def predict_task(part_names, job):
    """features parts -> predictions parts of the same names; returns their counts (JSON)."""
    return _native.predict_parts(job["model_dir"], job["features_dir"], part_names,
                                 job["predictions_dir"], task_cores(), job["endpoint_url"],
                                 job["region"])


# --------------------------------------------------------------------------------- job
def run(spark, args):
    sc = spark.sparkContext
    options = featurize_job_options(spark, args, args.backbone)
    driver = _native.PredictDriver(options, args.model, "spark predict", 1)
    check_interrupted()
    shards, shard_rule, slots, executors, peak = [], "", None, frozenset(), 0
    if driver.featurizes:
        # The CLI's featurize step, as orchard.spark runs it: shards of whole parts.
        wanted, slots, shard_rule = planned_shards(spark, args,
                                                   -(-driver.listed // driver.rows_per_part))
        driver.plan(wanted)
        shards = shard_tasks(driver)
        log(f"featurizing {driver.listed} files of {args.input} in {len(shards)} shards")
        outcome, executors, peak, seconds = featurize_pass(
            sc, shards, {"options": driver.options, "staging": driver.staging,
                         "sha256": driver.sha256},
            sc.broadcast(driver.model_bytes), "orchard predict: featurize")
        check_interrupted()
        counts = driver.finish_featurize(outcome, seconds)
        log(f"{counts['ok']} images ok, {counts['failed']} failed in {seconds:.1f}s")
    else:
        log(f"predicting the features parts of {args.input}")

    # The CLI's prediction pass, per group of parts; the counts come back.
    predict_start = time.monotonic()
    sc.setJobDescription("orchard predict: predict")
    storage = storage_options(spark, args)
    job = {"model_dir": driver.model_dir, "features_dir": driver.features_dir,
           "predictions_dir": driver.predictions_dir, **storage}
    wanted, group_slots, group_rule = planned_shards(spark, args, driver.num_feature_parts)
    groups = driver.predict_groups(wanted) if driver.num_feature_parts else []
    counts = sc.parallelize(groups, len(groups)) \
        .map(lambda names: predict_task(names, job)).collect() if groups else []
    driver.finish_predict(counts, time.monotonic() - predict_start)
    check_interrupted()  # the last point where nothing is published yet

    if not shards:
        shard_rule, slots = group_rule, group_slots
    summary = json.loads(driver.finish(engine_facts(spark, len(shards) or len(groups), shard_rule,
                                                    slots, executors, peak)))
    if "accuracy" in summary:
        log(f"accuracy {100 * summary['accuracy']:.2f} % (top-5 "
            f"{100 * summary['top5_accuracy']:.2f} %) on {summary['labelled_rows']} labelled rows")
    log(f"done in {summary['seconds']['total']:.1f}s: {args.output}")
    return summary
