"""What runs on the executors: one shard of a job through the CLI's pipeline (the C++
FeaturizeShard, via orchard.Embedder.featurize_shard) or its projection, and how the
answers of many tasks combine. The job's sequence is not here: it is the C++ job's
(jobs::FeaturizeDriver), which the driver calls (orchard.spark.job)."""
import os
import socket
import time

import orchard
from orchard import _native

_EMBEDDERS = {}  # one Embedder per executor Python process (workers are reused)


def embedder_for(model_broadcast, options):
    """The process's Embedder of the broadcast model with these options: a model loads once
    per executor process, not once per task."""
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


def embedder_options(job_options, sha256, cores):
    """orchard.Embedder's options for a task of the job (FeaturizeDriver.options)."""
    return {"output_name": job_options["output_name"], "expected_sha256": sha256,
            "batch_size": job_options["batch_size"], "max_pixels": job_options["max_pixels"],
            "max_file_bytes": job_options["max_file_bytes"],
            "model_name": f"'{job_options['model']}'", "threads": cores, "decode_threads": cores}


def featurize_shard_task(shard, job, model_broadcast):
    """One shard (its parts and its byte range of the staged listing) through the CLI's
    pipeline into the job's staging. -> (encoded outcome, {executor}, worker peak bytes)."""
    cores = task_cores()
    embedder = embedder_for(model_broadcast, embedder_options(job["options"], job["sha256"], cores))
    outcome = embedder.featurize_shard(job["options"], job["staging"], shard["first_part"],
                                       shard["begin_byte"], shard["end_byte"], shard["items"],
                                       cores)
    return outcome, frozenset([executor_id()]), peak_rss_bytes()


def merge_task_results(left, right):
    """Outcomes merge in C++ (associative, so any tree works); the rest is scheduling facts."""
    return (_native.merge_outcomes(left[0], right[0]), left[1] | right[1], max(left[2], right[2]))


def featurize_pass(sc, shards, job, model_broadcast, description):
    """One Spark job: featurize_shard_task per shard, answers merged.
    -> (encoded outcome, executors used, worker peak bytes, seconds)."""
    start = time.monotonic()
    if not shards:  # an update with nothing to featurize
        return _native.empty_outcome(), frozenset(), 0, 0.0
    sc.setJobDescription(description)
    outcome, executors, peak = sc.parallelize(shards, len(shards)) \
        .map(lambda shard: featurize_shard_task(shard, job, model_broadcast)) \
        .treeReduce(merge_task_results)
    return outcome, executors, peak, time.monotonic() - start


def project_shard_task(shard, job, model_json_broadcast):
    """The shard's features parts -> pca parts (same names)."""
    start = time.monotonic()
    parts = list(range(shard["first_part"], shard["first_part"] + shard["parts"]))
    options = job["options"]
    _native.project_parts(job["staging"], parts, model_json_broadcast.value, task_cores(),
                          options["endpoint_url"], options["region"])
    return time.monotonic() - start


def shard_tasks(driver):
    """The driver's planned shards as what each task receives: its parts and where its
    images are in the listing the driver staged (a few numbers, whatever the input's size)."""
    tasks = []
    for index, (first_part, num_parts, _, num_items, begin_byte, end_byte) in \
            enumerate(driver.shards()):
        tasks.append({"index": index, "first_part": first_part, "parts": num_parts,
                      "items": num_items, "begin_byte": begin_byte, "end_byte": end_byte})
    return tasks
