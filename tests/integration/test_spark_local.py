"""The Spark job (python -m orchard.spark) in local[2] mode against the CLI on the same
input: same rows, labels and errors, and the same numbers up to float rounding."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard
from spark_parity import assert_parity, cli_output, make_input, spark_env


def run_spark(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "orchard.spark", "--master", "local[2]",
                           *map(str, args)], capture_output=True, text=True, env=spark_env(),
                          timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"orchard.spark exited {proc.returncode}:\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_local")
    input_dir = make_input(root)
    spark_out = root / "spark out"
    proc = run_spark("--input", input_dir, "--output", spark_out, "--rows-per-batch", 16,
                     "--batch-size", 8)
    return input_dir, spark_out, cli_output(input_dir, root / "cli"), proc


def test_local_mode_matches_the_cli(runs):
    _, spark_out, cli_out, proc = runs
    numbers = {}
    assert_parity(spark_out, cli_out, numbers)
    print(f"\nparity local[2]: {numbers}")
    assert "63 images ok, 2 failed" in proc.stderr


def test_existing_output_is_refused_then_replaced(runs, tmp_path):
    input_dir, spark_out, cli_out, _ = runs
    proc = run_spark("--input", input_dir, "--output", spark_out, check=False)
    assert proc.returncode == 1 and "--overwrite" in proc.stderr
    assert (spark_out / "_SUCCESS").exists()  # untouched
    out = tmp_path / "again"
    (out / "features").mkdir(parents=True)
    (out / "features" / "part-00099.parquet").write_text("x")
    run_spark("--input", input_dir, "--output", out, "--overwrite", "--pca-k", 5,
              "--partitions", 3, "--batch-size", 4)
    assert not (out / "features" / "part-00099.parquet").exists()
    assert (out / "_SUCCESS").exists()
    # What orchard does not write is never replaced (the CLI's rule, in the same C++).
    (out / "notes.txt").write_text("mine")
    proc = run_spark("--input", input_dir, "--output", out, "--overwrite", check=False)
    assert proc.returncode != 0 and "'notes.txt'" in proc.stderr
    assert (out / "notes.txt").read_text() == "mine"


def test_same_part_files_as_the_cli(runs):
    """Shards are whole parts of the CLI's listing: the same files, the same rows in each."""
    _, spark_out, cli_out, _ = runs
    for table in ("features", "pca", "errors"):
        spark_parts = sorted(p.name for p in (spark_out / table).glob("part-*.parquet"))
        cli_parts = sorted(p.name for p in (cli_out / table).glob("part-*.parquet"))
        assert spark_parts == cli_parts, table
        for name in cli_parts:
            assert pq.read_table(spark_out / table / name).column("path").to_pylist() == \
                pq.read_table(cli_out / table / name).column("path").to_pylist()


def test_non_utf8_names_are_escaped_as_the_cli_does(tmp_path):
    root = tmp_path / "in"
    (root / "Mango").mkdir(parents=True)
    for idx, src in enumerate(sorted((SAMPLE / "Mango").iterdir())[:3]):
        shutil.copy(src, os.path.join(os.fsencode(root / "Mango"), b"caf\xe9 %d.jpg" % idx))
    # A name that is literally the escape of another: '%' is escaped too, so it stays distinct.
    shutil.copy(sorted((SAMPLE / "Mango").iterdir())[3], root / "Mango" / "caf%E9 0.jpg")
    spark_out, cli_out = tmp_path / "spark", tmp_path / "cli"
    run_spark("--input", root, "--output", spark_out, "--pca-k", 1)
    run_orchard("run", "-i", root, "-o", cli_out, "--pca-k", 1, "-q")
    paths = sorted(pq.read_table(spark_out / "features").column("path").to_pylist())
    assert paths == sorted(pq.read_table(cli_out / "features").column("path").to_pylist())
    assert paths == sorted(["Mango/caf%25E9 0.jpg"] + [f"Mango/caf%E9 {idx}.jpg" for idx in range(3)])


def test_resume_after_the_driver_is_killed(tmp_path):
    """Kill the driver once some parts are staged; --resume computes only the missing parts
    and the result equals a clean run."""
    root = tmp_path / "in"
    for label_dir in SAMPLE.iterdir():
        (root / label_dir.name).mkdir(parents=True)
        for image in label_dir.iterdir():
            for copy in range(4):
                os.link(image, root / label_dir.name / f"{copy}_{image.name}")
    args = ["--input", root, "--rows-per-part", 32, "--batch-size", 8, "--pca-k", 4,
            "--shards", 8]
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "orchard.spark", "--master", "local[2]",
                             *map(str, args), "--output", str(out)], env=spark_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    staged = out / "_temporary" / "features"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if staged.exists() and len(list(staged.glob("part-*.parquet"))) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver JVM and its Python workers
    proc.wait()
    assert not (out / "_SUCCESS").exists(), "the job ended before it could be interrupted"
    done = len(list(staged.glob("part-*.parquet")))
    assert 2 <= done < 8

    refused = run_spark(*args, "--output", out, check=False)
    assert refused.returncode == 1 and "--resume" in refused.stderr
    resumed = run_spark(*args, "--output", out, "--resume")
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["images"]["reused_from_interrupted_run"] >= 2 * 32
    assert "reused from the interrupted run" in resumed.stderr
    clean = tmp_path / "clean"
    run_spark(*args, "--output", clean)
    for table, column in (("features", "features"), ("pca", "pca")):
        got = pq.read_table(out / table).sort_by("path")
        want = pq.read_table(clean / table).sort_by("path")
        assert got.column("path").to_pylist() == want.column("path").to_pylist()
        np.testing.assert_allclose(np.array(got.column(column).to_pylist()),
                                   np.array(want.column(column).to_pylist()), atol=1e-5)


def test_links_special_files_and_the_size_limit_as_the_cli_does(tmp_path):
    # The executors read what the driver listed: a FIFO must be an error row there too (not
    # a task blocked in open()), and --max-file-bytes must be the same rule.
    root = tmp_path / "in"
    images = sorted((SAMPLE / "Mango").iterdir())[:2]
    for label, image in zip("AB", images):
        (root / label).mkdir(parents=True)
        shutil.copy(image, root / label / "good.jpg")
    os.symlink(".", root / "A" / "self")
    os.symlink("../A", root / "B" / "toA")
    os.mkfifo(root / "A" / "pipe.jpg")
    limit = max(os.path.getsize(image) for image in images)
    with open(root / "B" / "large.jpg", "wb") as handle:
        handle.truncate(limit + 1)
    spark_out, cli_out = tmp_path / "spark", tmp_path / "cli"
    run_spark("--input", root, "--output", spark_out, "--pca-k", 1, "--max-file-bytes", limit)
    run_orchard("run", "-i", root, "-o", cli_out, "--pca-k", 1, "-q", "--max-file-bytes", limit)
    for table in ("features", "errors"):
        spark_rows = pq.read_table(spark_out / table).sort_by("path").column("path").to_pylist()
        cli_rows = pq.read_table(cli_out / table).sort_by("path").column("path").to_pylist()
        assert spark_rows == cli_rows, table
    errors = pq.read_table(spark_out / "errors").sort_by("path").to_pylist()
    assert [row["path"] for row in errors] == ["A/pipe.jpg", "B/large.jpg"]
    assert "FIFO" in errors[0]["message"] and "--max-file-bytes" in errors[1]["message"]
