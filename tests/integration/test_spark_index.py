"""`python -m orchard.spark index|search|dedup` (local[2]) against the CLI on the same
outputs (issue 25 point 5): the exact index is the CLI's byte for byte, the approximate
one has its recall; batch search gives the same neighbours, dedup the same groups and
matches.

The outputs are synthetic (features/ parts written here): 16-dimensional blobs in four
uneven parts (one empty), with planted near-copies across parts and two rows that cannot
be indexed (a NaN, an all-zero vector); a second output holds noisy copies of some rows
(dedup --against). Three shards over four parts make uneven runs of parts. Two Spark
start-ups: one `python -m orchard.spark index` (the entry point), one session for the rest.
"""
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_orchard
from spark_parity import spark_env

DIM = 16
PART_ROWS = (300, 0, 250, 450)  # 1,000 rows, the second part empty
SHARDS = ("--shards", 3)

SCHEMA = pa.schema([pa.field("path", pa.string(), nullable=False),
                    pa.field("label", pa.string(), nullable=False),
                    pa.field("features", pa.list_(pa.float32()), nullable=False)])


def write_output(folder, paths, labels, vectors, part_rows):
    (folder / "features").mkdir(parents=True)
    first = 0
    for part, rows in enumerate(part_rows):
        piece = slice(first, first + rows)
        table = pa.table({"path": paths[piece], "label": labels[piece],
                          "features": [list(map(float, v)) for v in vectors[piece]]},
                         schema=SCHEMA)
        pq.write_table(table, folder / "features" / f"part-{part:05d}.parquet")
        first += rows


def synthetic(root):
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(40, DIM))
    labels = rng.integers(0, 40, size=sum(PART_ROWS))
    vectors = centres[labels] + 0.5 * rng.normal(size=(len(labels), DIM))
    # Near-copies: rows 700..719 repeat rows 10..29 (another part) with a tiny change.
    vectors[700:720] = vectors[10:30] + 1e-3 * rng.normal(size=(20, DIM))
    vectors[42] = np.nan
    vectors[43] = 0.0
    paths = [f"c{label}/img{row:04d}.jpg" for row, label in enumerate(labels)]
    names = [f"c{label}" for label in labels]
    out = root / "synthetic"
    write_output(out, paths, names, vectors.astype(np.float32), PART_ROWS)
    # The other output: noisy copies of rows 100..149 and 300 unrelated rows.
    other_vectors = np.concatenate([vectors[100:150] + 1e-3 * rng.normal(size=(50, DIM)),
                                    rng.normal(size=(300, DIM)) * 3])
    other = root / "other"
    write_output(other, [f"o/{i}.jpg" for i in range(350)], ["o"] * 350,
                 other_vectors.astype(np.float32), (200, 150))
    return out, other


SESSION_SCRIPT = r"""
import json, sys
from pyspark.sql import SparkSession
from orchard.spark import index
spark = SparkSession.builder.master("local[2]").config("spark.task.cpus", "1").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
summaries = [index.run(spark, index.parse_args(argv[0], argv[1:]))
             for argv in json.loads(sys.argv[1])]
spark.stop()
print(json.dumps(summaries))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_index")
    out, other = synthetic(root)
    cli = {
        "flat": ("index", "-i", out, "-o", root / "cli_flat", "--on", "features"),
        "ivf": ("index", "-i", out, "-o", root / "cli_ivf", "--on", "features", "--kind",
                "ivf-pq"),
        "nn": ("search", "-x", root / "cli_flat", "-i", out, "-o", root / "cli_nn", "-k", 5),
        "dup": ("dedup", "-i", out, "-o", root / "cli_dup", "--threshold", 0.01),
        "against": ("dedup", "-i", out, "-o", root / "cli_against", "--against", other,
                    "--threshold", 0.01),
    }
    summaries = {}
    for name, args in cli.items():
        summaries["cli_" + name] = json.loads(run_orchard(*args, "-q", "--json").stdout)

    # The entry point, into a folder an interrupted job left its staging folder in.
    (root / "spark_flat" / "_staging").mkdir(parents=True)
    (root / "spark_flat" / "_staging" / "shard-00007.faiss").write_bytes(b"left over")
    proc = subprocess.run([sys.executable, "-m", "orchard.spark", "index", "--master", "local[2]",
                           "-i", str(out), "-o", str(root / "spark_flat"), "--on", "features",
                           "--json", *map(str, SHARDS)],
                          capture_output=True, text=True, env=spark_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    summaries["spark_flat"] = json.loads(proc.stdout)

    spark = [["index", "-i", out, "-o", root / "spark_ivf", "--on", "features", "--kind",
              "ivf-pq"],
             ["search", "-x", root / "spark_flat", "-i", out, "-o", root / "spark_nn", "-k", 5],
             ["dedup", "-i", out, "-o", root / "spark_dup", "--threshold", 0.01],
             ["dedup", "-i", out, "-o", root / "spark_against", "--against", other,
              "--threshold", 0.01]]
    argv = [[str(a) for a in args] + list(map(str, SHARDS)) for args in spark]
    proc = subprocess.run([sys.executable, "-c", SESSION_SCRIPT, json.dumps(argv)],
                          capture_output=True, text=True, env=spark_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    for name, summary in zip(("ivf", "nn", "dup", "against"), json.loads(proc.stdout)):
        summaries["spark_" + name] = summary
    return root, summaries


def table(path):
    return pq.read_table(path).to_pylist()


def assert_same_rows(got, want, keys):
    assert len(got) == len(want) > 0
    assert [{k: r[k] for k in keys} for r in got] == [{k: r[k] for k in keys} for r in want]
    # Distances: the same vectors, searched in other batches (BLAS rounds per batch).
    np.testing.assert_allclose([r["distance"] for r in got], [r["distance"] for r in want],
                               rtol=0, atol=1e-5)


def test_exact_index_is_the_clis_byte_for_byte(runs):
    root, summaries = runs
    cli, spark = root / "cli_flat", root / "spark_flat"
    for name in ("index.faiss", "rows.parquet", "manifest.json"):
        assert (spark / name).read_bytes() == (cli / name).read_bytes(), name
    assert table(spark / "errors.parquet") == table(cli / "errors.parquet")
    assert len(table(cli / "errors.parquet")) == 2  # the NaN and the all-zero rows
    assert not (spark / "_staging").exists()  # the leftover one too
    assert summaries["spark_flat"]["kind"] == "flat"
    assert summaries["spark_flat"]["rows"] == summaries["cli_flat"]["rows"] == 998


def test_a_staging_link_left_in_a_result_folder_is_removed_not_followed(runs, tmp_path):
    root, _ = runs
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    target = tmp_path / "idx"
    target.mkdir()
    (target / "_staging").symlink_to(precious, target_is_directory=True)
    run_orchard("index", "-i", root / "synthetic", "-o", target, "--on", "features", "-q")
    assert (precious / "keep.txt").read_text() == "mine"
    assert not (target / "_staging").exists() and (target / "manifest.json").exists()
    # Anything else in the folder still makes it refused.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    proc = run_orchard("index", "-i", root / "synthetic", "-o", other, "--on", "features",
                       check=False)
    assert proc.returncode == 2 and "is not empty" in proc.stderr


def test_approximate_index_has_the_clis_recall(runs):
    root, summaries = runs
    cli, spark = summaries["cli_ivf"], summaries["spark_ivf"]
    assert cli["kind"] == spark["kind"] == "ivf-pq"
    assert spark["rows"] == cli["rows"] == 998
    assert spark["lists"] == cli["lists"] and spark["code_bytes"] == cli["code_bytes"]
    # The same training sample and codes: recall within 0.02 (equal unless BLAS rounding
    # moves a vector to another list).
    assert abs(spark["recall_at_10"] - cli["recall_at_10"]) <= 0.02
    assert spark["recall_at_10"] >= 0.9
    assert table(root / "spark_ivf" / "rows.parquet") == table(root / "cli_ivf" / "rows.parquet")
    # What Spark wrote loads and searches like the CLI's index.
    run_orchard("search", "-x", root / "spark_ivf", "-i", root / "synthetic", "-o",
                root / "ivf_nn", "-q")
    assert not (root / "spark_ivf" / "_staging").exists()


def test_batch_search_gives_the_clis_neighbours(runs):
    root, summaries = runs
    assert_same_rows(table(root / "spark_nn" / "neighbours.parquet"),
                     table(root / "cli_nn" / "neighbours.parquet"),
                     ("path", "label", "rank", "neighbour_path", "neighbour_label"))
    assert table(root / "spark_nn" / "errors.parquet") == table(root / "cli_nn" / "errors.parquet")
    for key in ("rows", "skipped", "k", "index_kind"):
        assert summaries["spark_nn"][key] == summaries["cli_nn"][key], key
    assert not (root / "spark_nn" / "_staging").exists()


def test_dedup_gives_the_clis_groups_and_matches(runs):
    root, summaries = runs
    groups = table(root / "spark_dup" / "duplicates.parquet")
    assert_same_rows(groups, table(root / "cli_dup" / "duplicates.parquet"),
                     ("group", "path", "label", "representative"))
    # The planted pairs (rows 10..29 and 700..719, in other parts) are the groups.
    assert summaries["spark_dup"]["groups"] == summaries["cli_dup"]["groups"] == 20
    pairs = {}
    for row in groups:
        pairs.setdefault(row["group"], []).append(int(row["path"].split("img")[1][:4]))
    assert sorted(pairs.values()) == [[row, row + 690] for row in range(10, 30)]

    matches = table(root / "spark_against" / "matches.parquet")
    assert_same_rows(matches, table(root / "cli_against" / "matches.parquet"),
                     ("path", "label", "match_path", "match_label"))
    assert summaries["spark_against"]["matched_rows"] == 50
    assert sorted(int(r["path"].split("img")[1][:4]) for r in matches) == list(range(100, 150))
    for name in ("spark_dup", "spark_against"):
        assert not (root / name / "_staging").exists()
