"""How many shards the Spark job makes without --partitions (orchard.spark.default_shards):
from the cluster's configured capacity and the number of parts, never from
defaultParallelism under dynamic allocation (EMR's default, where the session starts with
no executors and defaultParallelism is 2 whatever the cluster). No Spark session needed:
the functions read only the master, defaultParallelism and the configuration."""
import pytest

from orchard import spark as job


class FakeContext:
    def __init__(self, master, default_parallelism, conf):
        self.master = master
        self.defaultParallelism = default_parallelism
        self._conf = conf

    def getConf(self):
        return self

    def get(self, key, default=None):
        return self._conf.get(key, default)


class FakeSession:
    def __init__(self, master="yarn", default_parallelism=2, **conf):
        self.sparkContext = FakeContext(master, default_parallelism,
                                        {key.replace("_", "."): value for key, value in conf.items()})


EMR = {"spark_dynamicAllocation_enabled": "true", "spark_executor_cores": "4",
       "spark_task_cpus": "4"}


def test_dynamic_allocation_uses_max_executors_not_default_parallelism():
    spark = FakeSession(default_parallelism=2, spark_dynamicAllocation_maxExecutors="10", **EMR)
    shards, slots, rule = job.default_shards(spark, num_parts=1000)
    assert (shards, slots) == (40, 10)  # 4 per slot; the old rule gave 4 here
    assert rule.startswith("dynamicAllocation.maxExecutors")


def test_several_tasks_per_executor_count_as_slots():
    spark = FakeSession(spark_dynamicAllocation_enabled="true", spark_executor_cores="8",
                        spark_task_cpus="4", spark_dynamicAllocation_maxExecutors="3")
    assert job.default_shards(spark, 1000)[:2] == (24, 6)


@pytest.mark.parametrize("maximum", [None, "2147483647"])
def test_unbounded_dynamic_allocation_uses_parts_per_shard(maximum):
    conf = dict(EMR)
    if maximum:
        conf["spark_dynamicAllocation_maxExecutors"] = maximum
    shards, slots, rule = job.default_shards(FakeSession(**conf), num_parts=977)
    assert slots is None and shards == -(-977 // job.PARTS_PER_SHARD_UNBOUNDED)
    assert "parts per shard" in rule


def test_never_more_shards_than_parts():
    spark = FakeSession(spark_dynamicAllocation_maxExecutors="50", **EMR)
    assert job.default_shards(spark, num_parts=7)[0] == 7
    assert job.default_shards(spark, num_parts=1)[0] == 1


def test_static_executors_and_standalone_and_local():
    static = FakeSession(spark_executor_instances="5", spark_executor_cores="4", spark_task_cpus="2")
    assert job.default_shards(static, 1000)[:2] == (40, 10)
    standalone = FakeSession(master="spark://h:7077", spark_cores_max="6", spark_task_cpus="2")
    assert job.default_shards(standalone, 1000)[:2] == (12, 3)
    local = FakeSession(master="local[4]", default_parallelism=4, spark_task_cpus="4")
    assert job.default_shards(local, 1000)[:2] == (4, 1)


def _driver_of(tmp_path, images):
    """The run job's C++ driver (what the Spark job's driver calls) over `images` files; no
    image is read before the shards run, so the files need not be images."""
    import orchard
    from orchard import _native

    root = tmp_path / f"in-{images}"
    for index in range(images):
        folder = root / f"class-{index % 13}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"a-long-file-name-as-collections-have-{index:07d}.jpg").write_bytes(b"x")
    options = {"input": str(root), "output": str(tmp_path / f"out-{images}"), "model": "",
               "shipped_model": orchard.shipped_model_path(), "rows_per_part": 64}
    return _native.FeaturizeDriver(options, "run", "spark", 1)


def test_a_task_carries_a_range_of_the_staged_listing_never_its_paths(tmp_path):
    """Spark warned of 8.7 MB tasks at 10^6 images when each task carried its paths: a
    task is now a few numbers, as small for 5,000 images as for 10, and the tasks' ranges
    cover the staged listing exactly once, in order."""
    import pickle

    from orchard.spark.tasks import shard_tasks

    sizes = {}
    for images in (10, 5000):
        driver = _driver_of(tmp_path, images)
        driver.plan(7)
        tasks = shard_tasks(driver)
        assert sum(task["items"] for task in tasks) == driver.listed == images
        for left, right in zip(tasks, tasks[1:]):
            assert left["end_byte"] == right["begin_byte"]
            assert left["first_part"] + left["parts"] == right["first_part"]
        listing = tmp_path / f"out-{images}" / "_temporary" / "listing" / "listing.bin"
        assert tasks[0]["begin_byte"] == 16  # after the header
        assert tasks[-1]["end_byte"] < listing.stat().st_size  # the trailer follows
        sizes[images] = max(len(pickle.dumps(task)) for task in tasks)
    assert max(sizes.values()) < 300  # with its paths, a task of the 5,000 was ~45 KB
