"""`python -m orchard.spark`: the `run` job on Spark. The sequence is the C++ job's
(jobs::FeaturizeDriver, the same steps the CLI's RunJob runs in one process); this file
starts the steps, schedules the shards as Spark tasks, and hands their answers back:

  FeaturizeDriver(options)   list, check the model, begin the commit, plan the shards
  featurize pass             one task per shard: the CLI's pipeline, an encoded outcome back
  finish_featurize, fit_pca  merged outcome -> errors table; PCA fit, pca_model/ staged
  project pass               one task per shard: features parts -> pca parts
  finish_project, finish     summary.json, report/index.html, publish (_SUCCESS last)

Row data never crosses the JVM/Python boundary."""
import json
import time

import orchard
from orchard import _native
from orchard.spark.session import check_interrupted, log, storage_options
from orchard.spark.shards import default_shards
from orchard.spark.tasks import featurize_pass, project_shard_task, shard_tasks


def featurize_job_options(spark, args, model):
    """The options both Spark jobs featurize with, as the C++ jobs take them (the CLI's
    flags, underscored); `model` the embedding model ("" for the shipped one)."""
    return {"input": args.input, "output": args.output, "model": model or "",
            "shipped_model": orchard.shipped_model_path(), "output_name": args.output_name,
            "batch_size": args.batch_size, "rows_per_part": args.rows_per_part,
            "max_pixels": args.max_pixels, "max_file_bytes": args.max_file_bytes,
            "existing": "overwrite" if args.overwrite else
            "resume" if getattr(args, "resume", False) else
            "update" if getattr(args, "update", False) else "refuse",
            **storage_options(spark, args)}


def job_options(spark, args):
    """The `run` job's options: featurize_job_options and the PCA's."""
    return {**featurize_job_options(spark, args, args.model),
            "model_sha256": args.model_sha256, "path_glob": args.path_glob or "",
            "label_from": args.label_from,
            "pca_variance": args.pca_variance, "pca_k": args.pca_k}


def engine_facts(spark, shards, shard_rule, slots, executors, peak):
    """What summary.json's "engine" records of the Spark job (output::EngineSummary)."""
    sc = spark.sparkContext
    return {"spark_version": spark.version, "master": sc.master,
            "default_parallelism": sc.defaultParallelism,
            "task_cpus": int(sc.getConf().get("spark.task.cpus", "1")),
            "shards": shards, "shard_rule": shard_rule, "cluster_slots": slots or 0,
            "executors_used": len(executors), "worker_peak_rss_bytes": peak}


def planned_shards(spark, args, num_parts):
    """Tasks for `num_parts` parts of work. -> (shards wanted, cluster slots or None, the
    rule used)."""
    if args.shards:
        return args.shards, None, "--partitions"
    return default_shards(spark, max(1, num_parts))


def run(spark, args):
    sc = spark.sparkContext
    # The C++ job lists, checks and begins; shards are sized from its listing and the
    # cluster's capacity (scheduling), then planned by the job.
    driver = _native.FeaturizeDriver(job_options(spark, args), "run", "spark", 1)
    wanted, slots, shard_rule = planned_shards(spark, args,
                                               -(-driver.listed // driver.rows_per_part))
    driver.plan(wanted)
    check_interrupted()
    if driver.resuming and driver.update_counts is None:
        log("resuming: parts already written are reused once checked")
    shards = shard_tasks(driver)
    # Tasks featurize into staging (an update's into staging/update, assembled by the driver).
    job = {"options": driver.options, "staging": driver.featurize_staging,
           "sha256": driver.sha256}
    model_broadcast = sc.broadcast(driver.model_bytes)

    update = driver.update_counts
    if update is not None:
        log(f"updating {args.output}: " + ", ".join(f"{n} {what}" for what, n in update.items()))
    log(f"featurizing {sum(s['items'] for s in shards)} of the {driver.listed} files of "
        f"{args.input} in {len(shards)} shards "
        f"({shard_rule}{'' if slots is None else f': {slots} slots'})")
    outcome, executors, peak, featurize_seconds = featurize_pass(
        sc, shards, job, model_broadcast, "orchard: featurize")
    check_interrupted()
    counts = driver.finish_featurize(outcome, featurize_seconds)
    reused = counts["images_reused"]
    log(f"{counts['ok']} images ok, {counts['failed']} failed in {featurize_seconds:.1f}s"
        + (f" ({reused} reused from {'the output' if update else 'the interrupted run'})"
           if reused else ""))
    # The projection covers every part of the new output (an update planned anew).
    shards = shard_tasks(driver)
    job = {**job, "staging": driver.staging}

    model_json = driver.fit_pca()
    project_start = time.monotonic()
    sc.setJobDescription("orchard: project")
    json_broadcast = sc.broadcast(model_json)
    sc.parallelize(shards, len(shards)) \
        .map(lambda shard: project_shard_task(shard, job, json_broadcast)).collect()
    driver.finish_project(time.monotonic() - project_start)
    check_interrupted()  # the last point where nothing is published yet

    summary = json.loads(driver.finish(
        engine_facts(spark, len(shards), shard_rule, slots, executors, peak)))
    pca = summary["pca"]
    log(f"pca k={pca['k']} explains {100 * pca['cumulative_explained_variance_ratio']:.2f} % "
        f"of the variance (n={pca['n']})")
    log(f"done in {summary['seconds']['total']:.1f}s: {args.output}")
    return summary
