"""The Spark job (python -m orchard.spark) in local[2] mode against the CLI on the same
input: same rows, labels and errors, and the same numbers up to float rounding."""
import subprocess
import sys

import pytest

from spark_parity import assert_parity, cli_output, make_input, spark_env

from orchard import spark as orchard_spark


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
    out.mkdir()
    (out / "stale.txt").write_text("x")
    run_spark("--input", input_dir, "--output", out, "--overwrite", "--pca-k", 5,
              "--partitions", 3, "--batch-size", 4)
    assert not (out / "stale.txt").exists() and (out / "_SUCCESS").exists()


@pytest.mark.parametrize("uri, root, expected", [
    ("file:/data/in/a b/x.jpg", "file:/data/in", "a b/x.jpg"),
    ("file:///data/in/a b/x.jpg", "file:/data/in", "a b/x.jpg"),
    ("file:/data/in/a%20b/x.jpg", "file:/data/in", "a%20b/x.jpg"),  # a literal %: kept
    ("file:/data/my%20in/a%20b/x.jpg", "file:/data/my in", "a b/x.jpg"),  # escaped listing
    ("file:/data/in/é/ü.jpg", "file:///data/in/", "é/ü.jpg"),
    ("s3a://bucket/pre fix/Mango/1.jpg", "s3a://bucket/pre fix", "Mango/1.jpg"),
    ("s3a://bucket/Mango/1.jpg", "s3a://bucket", "Mango/1.jpg"),
    ("s3a://other/Mango/1.jpg", "s3a://bucket", None),
])
def test_relative_paths_across_uri_forms(uri, root, expected):
    assert orchard_spark.relative_path(uri, orchard_spark.normalize_uri(root)) == expected


def test_labels_and_hidden_files_like_the_cli():
    assert orchard_spark.label_of("Mango/1.jpg", "file:/in") == "Mango"
    assert orchard_spark.label_of("a/b/c.jpg", "file:/in") == "b"
    assert orchard_spark.label_of("top.jpg", "s3a://bucket/fruits") == "fruits"
    assert orchard_spark.is_hidden("Mango/.x.jpg") and orchard_spark.is_hidden("_tmp/x.jpg")
    assert not orchard_spark.is_hidden("Mango/x_.jpg")
