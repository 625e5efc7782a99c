"""Smoke test of the Spark job on Spark 4.x (the other Spark tests run Spark 3.5, EMR 7's
line): pyspark 4 from .deps/pyspark4 (scripts/install-spark4.sh) first on PYTHONPATH, the
sample through `python -m orchard.spark` in local mode, the output complete and equal in
rows to the CLI's."""
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import REPO, SAMPLE, run_orchard
from spark_parity import spark_env

SPARK4 = REPO / ".deps" / "pyspark4"


def test_sample_on_spark4(tmp_path):
    if not (SPARK4 / "pyspark").is_dir():
        pytest.fail(f"pyspark 4 is not in {SPARK4}: run scripts/install-spark4.sh", pytrace=False)
    env = spark_env()
    env["PYTHONPATH"] = f"{SPARK4}:{env['PYTHONPATH']}"
    version = subprocess.run([sys.executable, "-c", "import pyspark; print(pyspark.__version__)"],
                             env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("4."), version
    out = tmp_path / "spark4"
    proc = subprocess.run([sys.executable, "-m", "orchard.spark", "--master", "local[2]",
                           "-i", str(SAMPLE), "-o", str(out), "--pca-k", "5"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert (out / "_SUCCESS").exists() and (out / "report" / "index.html").exists()
    cli = tmp_path / "cli"
    run_orchard("run", "-i", SAMPLE, "-o", cli, "--pca-k", 5, "-q")
    for table in ("features", "pca"):
        assert sorted(pq.read_table(out / table).column("path").to_pylist()) == \
            sorted(pq.read_table(cli / table).column("path").to_pylist())
