"""The Spark job on a standalone cluster on loopback: one master and two workers (1 core,
1 GiB each) started by the fixture, the job submitted with spark-submit through the same
kind of launcher file EMR uses; the output must match the CLI's."""
import json
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import pyspark
import pytest

from spark_parity import assert_parity, cli_output, make_input, spark_env

SPARK_HOME = pathlib.Path(pyspark.__file__).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_workers(ui_port, count, procs, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"a Spark daemon exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as resp:
                state = json.load(resp)
            if state.get("aliveworkers", 0) >= count:
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"{count} workers did not register within {timeout}s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_cluster")
    env = spark_env()
    env["SPARK_HOME"] = str(SPARK_HOME)
    env["SPARK_LOG_DIR"] = str(root / "logs")
    env["SPARK_LOCAL_DIRS"] = str(root / "local")
    env["SPARK_WORKER_DIR"] = str(root / "work")
    env["SPARK_DAEMON_MEMORY"] = "256m"
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    logs = []
    procs = []

    def start(name, *args):
        log = open(root / f"{name}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen([spark_class, *args], stdout=log, stderr=subprocess.STDOUT,
                                      env=env, start_new_session=True))

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(ui_port))
        for idx in range(2):
            work = root / f"worker{idx}"
            work.mkdir()
            start(f"worker{idx}", "org.apache.spark.deploy.worker.Worker",
                  f"spark://127.0.0.1:{port}", "--cores", "1", "--memory", "1g",
                  "--host", "127.0.0.1", "--webui-port", str(free_port()),
                  "--work-dir", str(work))
        wait_for_workers(ui_port, 2, procs)
        yield f"spark://127.0.0.1:{port}", env, root
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def test_standalone_cluster_matches_the_cli(cluster):
    master, env, root = cluster
    input_dir = make_input(root)
    # The same launcher as deploy/aws/bootstrap/install-orchard.sh installs on EMR.
    launcher = root / "orchard_spark_main.py"
    launcher.write_text("import runpy\nrunpy.run_module('orchard.spark', run_name='__main__', "
                        "alter_sys=True)\n")
    out = root / "spark-out"
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", master,
           "--conf", "spark.executor.memory=512m", "--conf", "spark.executor.cores=1",
           "--conf", "spark.cores.max=2", "--driver-memory", "512m",
           "--conf", f"spark.pyspark.python={sys.executable}",
           "--conf", f"spark.executorEnv.PYTHONPATH={env['PYTHONPATH']}",
           str(launcher), "--input", str(input_dir), "--output", f"file://{out}",
           "--model", str(pathlib.Path(__file__).resolve().parents[2] / "models"
                          / "mobilenet_v2_imagenet.onnx"),
           "--partitions", "4", "--rows-per-batch", "16"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    numbers = {}
    assert_parity(out, cli_output(input_dir, root / "cli"), numbers)
    print(f"\nparity standalone cluster (2 workers x 1 core): {numbers}")
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["engine"]["master"] == master
    # Both workers ran executors.
    assert len([p for p in (root / "worker0").rglob("stderr")]) >= 1
    assert len([p for p in (root / "worker1").rglob("stderr")]) >= 1
