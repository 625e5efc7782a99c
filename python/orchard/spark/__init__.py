"""orchard on Apache Spark: the CLI's jobs, scheduled by Spark.

    python -m orchard.spark --input DIR_OR_URI --output DIR_OR_URI [options]
    python -m orchard.spark predict -m MODEL_DIR -i IMAGES_OR_OUTPUT -o OUT [options]
    python -m orchard.spark index|search|dedup ...  (the CLI's flags; see index.py)
    spark-submit [spark options] launcher.py --input ... --output ...   (see docs/spark.md)

Spark schedules, the C++ engine works. Every step of a job is the C++ job's
(src/orchard/jobs/: jobs::FeaturizeDriver, which the CLI's RunJob runs in one process):
this package starts the session, parses the flags (defaults from the C++ job options),
sizes the shards from the cluster (shards.py) and runs each shard as a task (tasks.py).

  job.py        the `run` job: the driver's steps, with a featurize and a project pass
  predict.py    `orchard predict` on Spark
  index.py      `orchard index`, batch `orchard search`, `orchard dedup` on Spark
  tasks.py      what executors run: one shard through the CLI's pipeline
  shards.py     how many shards, from the cluster's capacity
  session.py    the session, signals, exit codes
  cli.py        the flags
  dataframe.py  featurize_dataframe(): images already in a DataFrame, through mapInArrow

Input and output are local paths, file: URIs or object-store URIs (s3://, s3a:// are the
same bucket/key to the engine); credentials come from the standard AWS chain of every
process (an instance role on EMR), the endpoint from --endpoint-url or fs.s3a.endpoint.

Exit codes: 0 success, 1 the job failed, 2 usage error, 130 interrupted (SIGINT or SIGTERM:
the Spark jobs are cancelled, nothing is published, --resume continues).
"""
from orchard.spark.dataframe import FEATURIZED_SCHEMA, featurize_dataframe
from orchard.spark.shards import (
    PARTS_PER_SHARD_UNBOUNDED,
    SHARDS_PER_SLOT,
    UNBOUNDED_EXECUTORS,
    cluster_slots,
    default_shards,
)

__all__ = ["FEATURIZED_SCHEMA", "PARTS_PER_SHARD_UNBOUNDED", "SHARDS_PER_SLOT",
           "UNBOUNDED_EXECUTORS", "cluster_slots", "default_shards", "featurize_dataframe",
           "main"]


def main(argv=None):
    """`python -m orchard.spark [predict|index|search|dedup] ...` -> exit code."""
    from orchard.spark.__main__ import main as _main

    return _main(argv)
