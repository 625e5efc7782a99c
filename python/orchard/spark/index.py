"""`orchard index`, `orchard search` (batch) and `orchard dedup` on Apache Spark, with the
CLI's flags and the CLI's results:

    python -m orchard.spark index  -i OUT -o INDEX_DIR [--on pca|features] [--kind ...]
    python -m orchard.spark search -x INDEX_DIR -i OUT -o NN [-k 10]
    python -m orchard.spark dedup  -i OUT -o DUP [--against OTHER] [--threshold 0.05]

The sequence is the C++ jobs' (jobs::IndexDriver, SearchDriver, DedupDriver in
src/orchard/jobs/index_driver.h); this file starts their steps, schedules their shards
(runs of a vector table's parts) as Spark tasks and hands the tasks' answers back:

  index:  IndexDriver      read OUT's vectors, train on Build's sample, stage the trained index
          index pass       one task per run of parts: its rows added to a copy, staged
          finish           shards appended in order, nprobe tuned, INDEX_DIR written
  search: SearchDriver     load and check the index; one task per run of OUT's parts:
                           its neighbours staged; finish concatenates them in order
  dedup:  DedupDriver      read, train; index pass (as index); finish_index (append, tune,
                           stage); search pass over OUT's parts; finish: groups or matches

Row data never crosses the JVM/Python boundary; the folders must be reachable from the
executors (shared storage or s3://). Exit codes: 0 success, 1 the job failed, 2 usage error.
"""
import argparse
import json
import time

from orchard import _native
from orchard.spark.cli import add_cluster_arguments
from orchard.spark.job import planned_shards
from orchard.spark.session import check_interrupted, log, storage_options

COMMANDS = ("index", "search", "dedup")
# The CLI's defaults (jobs::IndexJobOptions, DedupJobOptions, index/dedup.h).
DEFAULT_NEIGHBOURS = 10
DEFAULT_DEDUP_NEIGHBOURS = 10
DEFAULT_THRESHOLD = 0.05


def _add_common(parser):
    parser.add_argument("-j", "--threads", type=int, default=0,
                        help="cores the driver uses to train, tune and group (default: all)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing result")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--partitions", "--shards", dest="shards", type=int, default=0,
                        help="split the work into N tasks (default: from the cluster's size, "
                             "as orchard.spark)")
    add_cluster_arguments(parser)


def _add_build(parser):
    parser.add_argument("--kind", default="auto", choices=("auto", "flat", "ivf-pq"),
                        help="index kind: auto, flat (exact) or ivf-pq")
    parser.add_argument("--max-memory", default="",
                        help="bound on the index's size, e.g. 512M or 4G (default: none)")


def parse_args(command, argv):
    parser = argparse.ArgumentParser(prog=f"python -m orchard.spark {command}",
                                     description=f"orchard {command} on Spark")
    if command == "index":
        parser.add_argument("-i", "--input", required=True, help="an earlier `orchard run` output")
        parser.add_argument("-o", "--output", required=True, help="the index folder to write")
        parser.add_argument("--on", default="pca", choices=("pca", "features"),
                            help="index 'pca' or 'features' vectors")
        _add_build(parser)
    elif command == "search":
        parser.add_argument("-x", "--index", required=True, help="index folder (orchard index)")
        parser.add_argument("-i", "--input", required=True, help="an earlier `orchard run` output")
        parser.add_argument("-o", "--output", required=True,
                            help="folder for neighbours.parquet")
        parser.add_argument("-k", "--neighbours", type=int, default=DEFAULT_NEIGHBOURS,
                            help="neighbours per image")
    else:
        parser.add_argument("-i", "--input", required=True, help="an earlier `orchard run` output")
        parser.add_argument("-o", "--output", required=True, help="folder for the result")
        parser.add_argument("--against", default="",
                            help="another output: which images of the input have a near-copy "
                                 "there")
        parser.add_argument("--on", default="features", choices=("pca", "features"),
                            help="compare 'features' (default) or 'pca' vectors")
        parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                            help="cosine distance under which two images are near-duplicates")
        parser.add_argument("-k", "--neighbours", type=int, default=DEFAULT_DEDUP_NEIGHBOURS,
                            help="neighbours looked at per image")
        _add_build(parser)
    _add_common(parser)
    args = parser.parse_args(argv)
    args.command = command
    for item in args.conf:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--conf expects KEY=VALUE, got {item!r}")
    if args.shards < 0 or args.threads < 0:
        parser.error("--shards and --threads must be >= 0")
    return args


# ------------------------------------------------------------- executor-side functions
def index_task(parts, job, out):
    return _native.index_shard(job, parts, out)


def search_task(parts, job, neighbours_file, errors_file):
    return tuple(_native.search_shard(job, parts, neighbours_file, errors_file))


def dedup_task(parts, job, out):
    return _native.dedup_shard(job, parts, out)


def _run_tasks(sc, description, items):
    """Runs `items` [(callable, args)] as one Spark job, one task each; -> their answers."""
    sc.setJobDescription(description)
    if not items:
        return []
    return sc.parallelize(items, len(items)).map(lambda item: item[0](*item[1])).collect()


def _planned(spark, args, plan):
    """The driver's plan of runs of parts for as many tasks as planned_shards wants for its
    parts (plan(n) never gives more runs than parts). -> (runs, the rule used)"""
    num_parts = len(plan(1 << 30))
    wanted, _, rule = planned_shards(spark, args, num_parts)
    return plan(wanted), rule


def _index_pass(spark, args, sc, plan, shard_index, job, description):
    shards, rule = _planned(spark, args, plan)
    log(f"{description}: {len(shards)} tasks ({rule})")
    start = time.monotonic()
    tasks = [(index_task, (parts, job, shard_index(i))) for i, parts in enumerate(shards)]
    rows = _run_tasks(sc, description, tasks)
    return rows, time.monotonic() - start


# --------------------------------------------------------------------------------- jobs
def run_index(spark, args):
    sc = spark.sparkContext
    storage = storage_options(spark, args)
    driver = _native.IndexDriver(args.input, args.output, args.on, args.kind, args.max_memory,
                                 args.threads, args.overwrite, storage["endpoint_url"],
                                 storage["region"])
    check_interrupted()
    rows, seconds = _index_pass(spark, args, sc, driver.plan, driver.shard_index,
                                driver.shard_job, "orchard index: add")
    log(f"{sum(rows)} vectors added in {seconds:.1f}s")
    check_interrupted()
    metrics = json.loads(driver.finish(rows))
    log(f"{metrics['kind']} index of {metrics['rows']} vectors, recall@10 "
        f"{metrics['recall_at_10']:.4f}, {metrics['bytes_per_vector']:.1f} bytes a vector: "
        f"{args.output}")
    return metrics


def run_search(spark, args):
    sc = spark.sparkContext
    storage = storage_options(spark, args)
    driver = _native.SearchDriver(args.index, args.input, args.output, args.neighbours,
                                  args.threads, args.overwrite, storage["endpoint_url"],
                                  storage["region"])
    check_interrupted()
    shards, rule = _planned(spark, args, driver.plan)
    log(f"searching {len(shards)} shards of {args.input} ({rule})")
    job = driver.shard_job
    counts = _run_tasks(sc, "orchard search",
                        [(search_task, (parts, job, driver.shard_neighbours(i),
                                        driver.shard_errors(i)))
                         for i, parts in enumerate(shards)])
    check_interrupted()
    summary = json.loads(driver.finish(counts))
    log(f"{summary['rows']} rows searched, {summary['skipped']} skipped: {args.output}")
    return summary


def run_dedup(spark, args):
    sc = spark.sparkContext
    storage = storage_options(spark, args)
    driver = _native.DedupDriver(args.input, args.output, args.against, args.on, args.threshold,
                                 args.neighbours, args.kind, args.max_memory, args.threads,
                                 args.overwrite, storage["endpoint_url"], storage["region"])
    check_interrupted()
    rows, seconds = _index_pass(spark, args, sc, driver.plan_index, driver.shard_index,
                                driver.shard_job, "orchard dedup: index")
    driver.finish_index(rows)
    check_interrupted()
    shards, _ = _planned(spark, args, driver.plan_search)
    job = driver.search_job
    searched = _run_tasks(sc, "orchard dedup: search",
                          [(dedup_task, (parts, job, driver.shard_neighbours(i)))
                           for i, parts in enumerate(shards)])
    check_interrupted()
    summary = json.loads(driver.finish(searched))
    if args.against:
        log(f"{summary['matched_rows']} of {summary['rows']} images have a near-copy in "
            f"{args.against}")
    else:
        log(f"{summary['groups']} groups of near-duplicates ({summary['grouped_rows']} of "
            f"{summary['rows']} images)")
    return summary


RUNNERS = {"index": run_index, "search": run_search, "dedup": run_dedup}


def run(spark, args):
    return RUNNERS[args.command](spark, args)
