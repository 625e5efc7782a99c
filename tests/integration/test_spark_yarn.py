"""The Spark job on YARN, submitted exactly as deploy/aws/orchard-aws submits its EMR step.

The cluster: Hadoop's MiniYARNCluster (hadoop-client-minicluster, the Hadoop 3.3.4 of
pyspark 3.5's own client jars; fetched by scripts/setup-test-tools.sh into .deps/hadoop/),
started by tests/integration/yarn/OrchardMiniYarn.java (compiled here with javac): a real
ResourceManager (CapacityScheduler, memory-only resource calculator as deploy/aws
configures EMR) and two real NodeManagers on loopback, each sized like one EMR core node
scaled to this machine (NODE_VCORES vCPUs, NODE_MB of YARN memory), with the physical
memory check on: a container whose process tree (executor JVM + Python daemon + workers)
outgrows its size is killed, as on EMR.

The job: the spark-submit command line of deploy/aws/lib/spark-step.sh (orchard_step_args
after size_executors, the functions orchard-aws runs), client mode, dynamic allocation with
shuffle tracking, with what differs between EMR and this machine added in front: the paths
of python and the launcher, Spark's jars, the S3 endpoint (input and output are on the
loopback S3 server, s3a://), the event log, and the scheduler waiting for the executors it
asked for (so that 'more than one executor worked' does not depend on timing). The
credentials are in the NodeManagers' environment, which every container inherits (the
instance role of an EMR node): never on a command line.

Asserted: the output equals the CLI's on the same images (spark_parity), both executors ran
featurize tasks (event log and summary.json), the application SUCCEEDED, and no container
was killed (the NodeManagers' memory monitor, which did measure every executor container);
and, with too little memoryOverhead for the Python worker, YARN kills the executors and the
job fails with a message that says so.
"""
import json
import os
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pyarrow.fs as pafs
import pyspark
import pytest

from conftest import REPO, s3_server_with_bucket
from s3server import download_dir
from spark_parity import PYTHON_DIR, assert_parity, cli_output, make_input

SPARK_HOME = pathlib.Path(pyspark.__file__).parent
HADOOP_DIR = REPO / ".deps" / "hadoop"
LAUNCHER_SOURCE = pathlib.Path(__file__).parent / "yarn" / "OrchardMiniYarn.java"
LOG4J_CONFIG = pathlib.Path(__file__).parent / "yarn" / "log4j2.properties"
STEP_LIBRARY = REPO / "deploy" / "aws" / "lib" / "spark-step.sh"
MODEL = REPO / "models" / "mobilenet_v2_imagenet.onnx"
BUCKET = "orchard-yarn"

# One EMR core node scaled to this 2-core machine: 1 vCPU per node (2 nodes = the
# machine), and the memory that leaves room for one application master (1 GiB) and one
# executor sized by size_executors (1 GiB heap + the rest as overhead for the Python worker).
NODES = 2
NODE_VCORES = 1
NODE_MB = 3584
# Jars of the cluster: the minicluster (and what it needs that pyspark does not ship),
# then pyspark's own Hadoop client and logging.
HADOOP_JARS = ["hadoop-client-minicluster-3.3.4.jar", "junit-4.13.2.jar", "hamcrest-core-1.3.jar",
               "bcprov-jdk15on-1.68.jar", "bcpkix-jdk15on-1.68.jar"]
SPARK_JARS = ["hadoop-client-api-3.3.4.jar", "hadoop-client-runtime-3.3.4.jar",
              "slf4j-api-2.0.7.jar", "log4j-slf4j2-impl-2.20.0.jar", "log4j-api-2.20.0.jar",
              "log4j-core-2.20.0.jar", "log4j-1.2-api-2.20.0.jar", "jcl-over-slf4j-2.0.7.jar",
              "jakarta.xml.bind-api-2.3.2.jar", "jaxb-runtime-2.3.2.jar", "activation-1.1.1.jar"]
# Java 17 closes what YARN's web layer (Guice) reflects on.
JAVA_OPENS = [f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in
              ("java.lang", "java.lang.reflect", "java.lang.invoke", "java.io", "java.net",
               "java.nio", "java.util", "java.util.concurrent", "sun.nio.ch")]
KILLED_FOR_MEMORY = "beyond the 'PHYSICAL' memory limit"


def classpath(*folders_and_jars):
    missing = [str(path) for path in folders_and_jars if not path.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup-test-tools.sh", pytrace=False)
    return os.pathsep.join(map(str, folders_and_jars))


class MiniYarn:
    """The running OrchardMiniYarn process: its configuration folder, its log, and the
    ResourceManager's view of the applications."""

    def __init__(self, root, env):
        self.root = root
        self.conf_dir = root / "conf"
        self.log_path = root / "miniyarn.log"
        classes = root / "classes"
        classes.mkdir()
        jars = [HADOOP_DIR / jar for jar in HADOOP_JARS] + \
            [SPARK_HOME / "jars" / jar for jar in SPARK_JARS]
        subprocess.run(["javac", "-cp", classpath(*jars), "-d", str(classes),
                        str(LAUNCHER_SOURCE)], check=True, capture_output=True, timeout=300)
        settings = {
            "yarn.resourcemanager.hostname": "127.0.0.1",
            "yarn.nodemanager.hostname": "127.0.0.1",
            # MiniYARNCluster turns the memory checks off unless told the test controls them.
            "yarn.minicluster.control-resource-monitoring": "true",
            "yarn.nodemanager.pmem-check-enabled": "true",
            # The polling check above is what EMR's NodeManagers kill with (no memory
            # cgroups); "strict" enforcement would leave it to cgroups and skip the check.
            "yarn.nodemanager.resource.memory.enforced": "false",
            "yarn.nodemanager.vmem-check-enabled": "false",  # as EMR: virtual size means nothing
            "yarn.nodemanager.container-monitor.interval-ms": "1000",
            "yarn.minicluster.yarn.nodemanager.resource.memory-mb": str(NODE_MB),
            "yarn.nodemanager.resource.memory-mb": str(NODE_MB),
            "yarn.nodemanager.resource.cpu-vcores": str(NODE_VCORES),
            "yarn.scheduler.maximum-allocation-mb": str(NODE_MB),
            "yarn.scheduler.minimum-allocation-mb": "64",
            "yarn.scheduler.capacity.resource-calculator":
                "org.apache.hadoop.yarn.util.resource.DefaultResourceCalculator",
            "yarn.scheduler.capacity.root.queues": "default",
            "yarn.scheduler.capacity.root.default.capacity": "100",
            "yarn.scheduler.capacity.root.default.maximum-capacity": "100",
            "yarn.scheduler.capacity.maximum-am-resource-percent": "0.5",
            "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage":
                "100",
            # Containers inherit these from the NodeManager: the node's "instance role".
            "yarn.nodemanager.env-whitelist": ",".join(
                ["JAVA_HOME", "HADOOP_CONF_DIR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"]),
        }
        command = ["java", "-Xmx768m", *JAVA_OPENS, f"-Dtest.build.data={root / 'data'}",
                   f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                   "-cp", classpath(classes, *jars), "OrchardMiniYarn", str(self.conf_dir), str(NODES),
                   *[f"{key}={value}" for key, value in settings.items()]]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd=root, text=True,
                                     start_new_session=True)
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next_line(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"OrchardMiniYarn said nothing for {timeout}s; see "
                                 f"{self.log_path}") from None
        if line is None:
            raise AssertionError(f"OrchardMiniYarn exited ({self.proc.wait()}):\n"
                                 f"{self.log_path.read_text()[-4000:]}")
        return line

    def wait_ready(self):
        """-> the nodes as the ResourceManager registered them, once it is ready."""
        nodes = []
        while True:
            line = self._next_line(240)
            if line.startswith("ORCHARD-MINIYARN NODE "):
                fields = dict(item.split("=") for item in line.split()[3:])
                nodes.append({key: int(value) for key, value in fields.items()})
            elif line.startswith("ORCHARD-MINIYARN READY "):
                return nodes

    def apps(self):
        """-> {application id: (state, final status, diagnostics)} from the ResourceManager."""
        self.proc.stdin.write("apps\n")
        self.proc.stdin.flush()
        apps = {}
        while (line := self._next_line(60)) != "ORCHARD-MINIYARN END":
            match = re.match(r"ORCHARD-MINIYARN APP (\S+) state=(\S+) final=(\S+) "
                             r"diagnostics=(.*)", line)
            if match:
                apps[match[1]] = (match[2], match[3], match[4])
        return apps

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # OrchardMiniYarn stops both daemons and exits
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def s3():
    yield from s3_server_with_bucket(BUCKET)


@pytest.fixture(scope="module")
def yarn(s3, tmp_path_factory):
    root = tmp_path_factory.mktemp("yarn")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(s3.env(), AWS_CONFIG_FILE="/nonexistent/aws-config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials")
    cluster = MiniYarn(root, env)
    try:
        nodes = cluster.wait_ready()
        # Proved ready: both NodeManagers registered, with the resources they were given.
        assert nodes == [{"memory_mb": NODE_MB, "vcores": NODE_VCORES}] * NODES, nodes
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def data(s3, tmp_path_factory):
    root = tmp_path_factory.mktemp("yarn_data")
    input_dir = make_input(root)
    assert len(s3.upload_dir(input_dir, BUCKET, "input/run")) == 66
    return {"input": input_dir, "cli": cli_output(input_dir, root / "cli"), "root": root}


def step_command(root, output_uri, small_container=None, batch_size=8):
    """orchard-aws's spark-submit command line for this cluster (size_executors for NODES
    nodes of NODE_MB, orchard_step_args), with this machine's paths; small_container =
    (heap MiB, overhead MiB) replaces the sizing's."""
    launcher = root / "orchard_spark_main.py"
    launcher.write_text("import runpy\nrunpy.run_module('orchard.spark', run_name='__main__', "
                        "alter_sys=True)\n")  # the launcher install-orchard.sh installs on EMR
    script = ('set -e; source "$1"; shift; size_executors test-node "$1"; shift; '
              'if [[ -n "$HEAP_MB" ]]; then EXECUTOR_MEMORY_MB=$HEAP_MB; '
              'EXECUTOR_OVERHEAD_MB=$OVERHEAD_MB; fi; orchard_step_args "$@"')
    heap, overhead = small_container or ("", "")
    env = dict(os.environ, REMOTE_PYTHON=sys.executable, REMOTE_LAUNCHER=str(launcher),
               REMOTE_MODEL=str(MODEL), ORCHARD_EXECUTOR_CORES=str(NODE_VCORES),
               ORCHARD_NODE_YARN_MB=str(NODE_MB), HEAP_MB=str(heap), OVERHEAD_MB=str(overhead))
    proc = subprocess.run(
        ["bash", "-c", script, "bash", str(STEP_LIBRARY), str(NODES),
         f"s3a://{BUCKET}/input/run", output_uri, "--rows-per-part", str(batch_size),
         "--batch-size", str(batch_size)],
        capture_output=True, text=True, env=env, check=True)
    return proc.stdout.splitlines()


def submission(yarn, s3, root, output_uri, small_container=None, batch_size=8):
    """-> (orchard-aws's step arguments, the spark-submit command run here, its environment,
    the event log folder)."""
    args = step_command(root, output_uri, small_container, batch_size)
    assert args[:3] == ["spark-submit", "--master", "yarn"] and "--deploy-mode" in args
    events = root / "events"
    events.mkdir()
    here = {  # what differs between an EMR node and this machine
        "spark.yarn.jars": f"local:{SPARK_HOME / 'jars'}/*",
        "spark.executorEnv.PYTHONPATH": str(PYTHON_DIR),
        "spark.hadoop.fs.s3a.endpoint": s3.endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"file://{events}",
        "spark.driver.memory": "512m",
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "600s",
    }
    command = [str(SPARK_HOME / "bin" / "spark-submit")]
    for key, value in here.items():
        command += ["--conf", f"{key}={value}"]
    command += args[1:]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(s3.env(), AWS_CONFIG_FILE="/nonexistent/aws-config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
               YARN_CONF_DIR=str(yarn.conf_dir), HADOOP_CONF_DIR=str(yarn.conf_dir),
               SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1",
               PYTHONPATH=str(PYTHON_DIR), PYSPARK_PYTHON=sys.executable)
    return args, command, env, events


def read_events(events):
    return [json.loads(line) for path in events.iterdir()
            for line in path.read_text().splitlines() if line.strip()]


def submit(yarn, s3, root, output_uri, small_container=None, batch_size=8):
    args, command, env, events = submission(yarn, s3, root, output_uri, small_container,
                                            batch_size)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    return args, proc, read_events(events)


def container_peaks(log):
    """{container id: (largest measured RSS, limit)} from the memory monitor's samples."""
    peaks = {}
    pattern = re.compile(r"container-id (\S+): ([\d.]+) ([KMG]B) of ([\d.]+) ([KMG]B) physical")
    scale = {"KB": 1 / 1024, "MB": 1, "GB": 1024}
    for match in pattern.finditer(log):
        used = float(match[2]) * scale[match[3]]
        limit = float(match[4]) * scale[match[5]]
        peaks[match[1]] = (max(used, peaks.get(match[1], (0, 0))[0]), limit)
    return peaks


@pytest.fixture(scope="module")
def job(yarn, s3, data, tmp_path_factory):
    root = tmp_path_factory.mktemp("yarn_job")
    args, proc, events = submit(yarn, s3, root, f"s3a://{BUCKET}/output/run-1")
    if proc.returncode != 0:
        raise AssertionError(f"spark-submit exited {proc.returncode}:\n{proc.stderr[-8000:]}")
    out = download_dir(s3.filesystem(), f"{BUCKET}/output/run-1", root / "out")
    return {"args": args, "proc": proc, "events": events, "out": out,
            "apps": yarn.apps(), "log": yarn.log()}


def test_yarn_job_matches_the_cli(job, data):
    numbers = {}
    assert_parity(job["out"], data["cli"], numbers)
    print(f"\nparity on YARN ({NODES} nodes): {numbers}")
    # spark-submit's PythonRunner passes the driver's stderr on to its stdout.
    assert "orchard.spark: 63 images ok, 2 failed" in job["proc"].stdout
    assert f"in {4 * NODES} shards (dynamicAllocation.maxExecutors" in job["proc"].stdout


def test_the_step_is_orchard_aws_s(job):
    args = job["args"]
    for setting in ("spark.dynamicAllocation.enabled=true",
                    "spark.dynamicAllocation.shuffleTracking.enabled=true",
                    f"spark.dynamicAllocation.maxExecutors={NODES}",
                    f"spark.executor.cores={NODE_VCORES}", f"spark.task.cpus={NODE_VCORES}",
                    "spark.executorEnv.MALLOC_ARENA_MAX=2",
                    f"spark.executorEnv.OPENBLAS_NUM_THREADS={NODE_VCORES}"):
        assert setting in args, setting
    assert args[args.index("--deploy-mode") + 1] == "client"


def test_more_than_one_executor_worked(job):
    added = {e["Executor ID"] for e in job["events"] if e["Event"] == "SparkListenerExecutorAdded"}
    ran = {e["Task Info"]["Executor ID"] for e in job["events"]
           if e["Event"] == "SparkListenerTaskEnd"}
    assert len(added) == NODES and ran == added, (added, ran)
    summary = json.loads((job["out"] / "report" / "summary.json").read_text())
    engine = summary["engine"]
    assert engine["executors_used"] == NODES, engine
    assert engine["cluster_slots"] == NODES and engine["shards"] == 4 * NODES, engine
    assert engine["shard_rule"].startswith("dynamicAllocation.maxExecutors"), engine
    assert engine["worker_peak_rss_bytes"] > 100 * 2**20, engine


def test_no_container_was_killed(job):
    assert [state[:2] for state in job["apps"].values()] == [("FINISHED", "SUCCEEDED")], job["apps"]
    log = job["log"]
    assert KILLED_FOR_MEMORY not in log
    removed = [e.get("Removed Reason", "") for e in job["events"]
               if e["Event"] == "SparkListenerExecutorRemoved"]
    # Dynamic allocation may release an idle executor ("Executor killed by driver."); a
    # container YARN killed, or one that died, says so ("Container killed by YARN ...",
    # "... exited caused by ...", "Container marked as failed ...").
    lost = [reason for reason in removed
            if reason and reason.strip() != "Executor killed by driver."]
    assert not lost, lost
    # The monitor did watch every container (AM + executors) against its limit.
    peaks = container_peaks(log)
    assert len(peaks) >= 1 + NODES, peaks
    executor_limits = sorted(limit for _, limit in peaks.values())[-NODES:]
    assert executor_limits == [NODE_MB - 1024] * NODES, peaks
    print(f"\nmeasured container peaks (MiB used, limit): {peaks}")


def test_too_little_overhead_gets_the_executors_killed(yarn, s3, job, tmp_path_factory):
    """The same step at the default batch size (32) in containers of 576 MiB (512 heap +
    64 overhead) instead of the sized ones: the executor JVM plus the Python worker's
    native pipeline (ONNX Runtime's activations at batch 32) outgrow the container and the
    NodeManager kills it, as it would kill an EMR executor sized by Spark's defaults for a
    JVM-only job. (Whether the job then fails or completes on retries that reuse the parts
    already written depends on where the kills fall; only the kills are asserted.)"""
    root = tmp_path_factory.mktemp("yarn_small")
    before = len(job["apps"])
    _, proc, events = submit(yarn, s3, root, f"s3a://{BUCKET}/output/run-small",
                             small_container=(512, 64), batch_size=32)
    removed = [e.get("Removed Reason", "") for e in events
               if e["Event"] == "SparkListenerExecutorRemoved"]
    assert any("exceeding physical memory limits" in reason for reason in removed), \
        (removed, proc.stderr[-4000:])
    assert KILLED_FOR_MEMORY in yarn.log()
    assert len(yarn.apps()) == before + 1
    if proc.returncode != 0:
        assert "orchard.spark: error: a Spark task failed" in proc.stdout, proc.stdout[-4000:]


def executor_process_trees():
    """{executor JVM pid: [it and every descendant (the Python daemon and its workers)]} of
    the YARN executors running on this machine."""
    parents, commands = {}, {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    trees = {}
    for pid, command in commands.items():
        # The JVM itself, not the container's launch script that names the same class.
        if command.split(b"\0")[0].endswith(b"java") and \
                b"YarnCoarseGrainedExecutorBackend" in command:
            tree, frontier = [pid], [pid]
            while frontier:
                children = [child for child, parent in parents.items() if parent in frontier]
                tree += children
                frontier = children
            trees[pid] = tree
    return trees


def test_an_executor_killed_mid_job_is_replaced_and_the_output_is_the_clean_runs(
        yarn, s3, data, job, tmp_path_factory):
    """Item 6 of issue 22: once featurize parts are landing, one executor's JVM and its
    Python processes are SIGKILLed together (a node lost, an OOM kill). Spark loses the
    executor and reruns its task elsewhere (the task rewrites exactly the parts it owns),
    dynamic allocation asks for a replacement, and the job still publishes the output a
    clean run publishes."""
    root = tmp_path_factory.mktemp("yarn_kill")
    output = f"{BUCKET}/output/run-kill"
    _, command, env, events = submission(yarn, s3, root, f"s3a://{output}")
    filesystem = s3.filesystem()
    staged = pafs.FileSelector(f"{output}/_temporary/features", allow_not_found=True)
    log_path = root / "spark-submit.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    killed, parts_at_kill, seen = None, None, (0, {})
    try:
        deadline = time.monotonic() + 420
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            parts = [info for info in filesystem.get_file_info(staged)
                     if info.base_name.startswith("part-")]
            trees = executor_process_trees()
            seen = (len(parts), trees)
            if parts and len(trees) == NODES:
                parts_at_kill = len(parts)
                killed = trees[min(trees)]
                for pid in killed:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            else:
                time.sleep(0.1)
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    stderr = log_path.read_text(errors="replace")
    assert killed is not None, \
        f"no parts while both executors ran: last seen {seen}\n{stderr[-4000:]}"
    assert len(killed) >= 2, f"an executor without its Python worker: {killed}"
    # Killed mid-job: when the executor died, most of the 9 parts were still to be written.
    assert parts_at_kill < 9, parts_at_kill
    assert proc.returncode == 0, f"spark-submit exited {proc.returncode}:\n{stderr[-8000:]}"

    event_lines = read_events(events)
    removed = [e.get("Removed Reason", "") for e in event_lines
               if e["Event"] == "SparkListenerExecutorRemoved"]
    assert any(reason and reason.strip() != "Executor killed by driver." for reason in removed), \
        removed
    out = download_dir(filesystem, output, root / "out")
    numbers = {}
    assert_parity(out, data["cli"], numbers)
    print(f"\nexecutor {killed[0]} killed with {parts_at_kill} of 9 parts staged; "
          f"removal reasons {removed}; parity {numbers}")
