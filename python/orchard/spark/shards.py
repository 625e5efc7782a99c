"""How many shards a Spark job makes: from the work and the cluster's capacity, never
from defaultParallelism at start (under dynamic allocation the session starts with no
executors). Scheduling only: the shards themselves are planned by the C++ job."""


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
