"""Tar shards, a manifest and S3 Inventory reports on the loopback S3 server: the same rows
and vectors as the local tar run (issue 24). Fails, not skips, without the server binary."""
import gzip
import json
import os
import urllib.parse

import numpy as np
import pyarrow as pa
import pyarrow.fs  # noqa: F401 (pa.fs)
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard, s3_server_with_bucket
from s3server import download_dir
from test_inputs import IMAGES, make_shards, table

BUCKET = "orchard"


@pytest.fixture(scope="module")
def s3():
    yield from s3_server_with_bucket(BUCKET)


@pytest.fixture(scope="module")
def local_tar_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("local_tar")
    shards = make_shards(root / "shards")
    out = root / "out"
    run_orchard("run", "-i", shards, "-o", out, "-q", "--threads", 2, "--label-from", "cls")
    return shards, out


def s3_run(s3, tmp_path, input_uri, *args):
    out = f"s3://{BUCKET}/out/{tmp_path.name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(s3.env())
    proc = run_orchard("run", "-i", input_uri, "-o", out, "-q", "--threads", 2, *args, env=env)
    local = tmp_path / "downloaded"
    download_dir(s3.filesystem(), out[len("s3://"):], local)
    return proc, local


def test_tar_shards_on_s3_match_the_local_run(s3, local_tar_run, tmp_path):
    shards, local_out = local_tar_run
    s3.upload_dir(shards, BUCKET, "tars")
    for uri in (f"s3://{BUCKET}/tars", f"s3://{BUCKET}/tars/{{00000..00002}}.tar"):
        _, out = s3_run(s3, tmp_path / uri.rsplit("/", 1)[-1][:5], uri, "--label-from", "cls")
        got, want = table(out / "features"), table(local_out / "features")
        assert got.column("path").to_pylist() == want.column("path").to_pylist()
        assert got.column("label").to_pylist() == want.column("label").to_pylist()
        np.testing.assert_allclose(np.array(got.column("features").to_pylist()),
                                   np.array(want.column("features").to_pylist()), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def loose_in_s3(s3):
    """data/sample at s3://orchard/loose."""
    s3.upload_dir(SAMPLE, BUCKET, "loose")


def test_manifest_on_s3_with_a_missing_object(s3, loose_in_s3, tmp_path):
    relative = [str(image.relative_to(SAMPLE)) for image in IMAGES[:5]]
    rows = ["path"] + [f'"{r}"' for r in relative[:3]] + [f'"s3://{BUCKET}/loose/{relative[3]}"',
                                                          "gone/missing.jpg", "/etc/passwd"]
    with s3.filesystem().open_output_stream(f"{BUCKET}/loose/list.csv") as stream:
        stream.write(("\n".join(rows) + "\n").encode())
    _, out = s3_run(s3, tmp_path, f"s3://{BUCKET}/loose/list.csv")
    features = table(out / "features")
    assert features.num_rows == 4
    errors = {row["path"]: row for row in pq.read_table(out / "errors").to_pylist()}
    assert errors["gone/missing.jpg"]["stage"] == "read"
    assert "no such object" in errors["gone/missing.jpg"]["message"]
    assert "absolute local path" in errors["/etc/passwd"]["message"]


def write_inventory(s3, fmt):
    """An S3 Inventory report of s3://orchard/loose in the
    layout AWS writes: manifest.json + data files of the destination bucket."""
    fs = s3.filesystem()
    sizes = {info.path.split("/", 1)[1]: info.size for info in
             fs.get_file_info(pa.fs.FileSelector(f"{BUCKET}/loose", recursive=True))
             if info.is_file and info.path.endswith(".jpg")}
    keys = sorted(sizes)
    prefix = f"inventory/{fmt}/orchard/config"
    if fmt == "CSV":
        lines = "".join(f'"{BUCKET}","{urllib.parse.quote_plus(key, safe="/")}","{sizes[key]}"\n'
                        for key in keys)
        lines += f'"{BUCKET}","loose/folder/","0"\n'  # a folder marker: skipped
        data_key = f"{prefix}/data/part-1.csv.gz"
        # compression=None: pyarrow would gzip a ".gz" name once more itself.
        with fs.open_output_stream(f"{BUCKET}/{data_key}", compression=None) as stream:
            stream.write(gzip.compress(lines.encode()))
        schema = "Bucket, Key, Size"
    else:
        data = pa.table({"bucket": pa.array([BUCKET] * (len(keys) + 1)),
                         "key": pa.array(keys + ["loose/deleted.jpg"]),
                         "size": pa.array([sizes[k] for k in keys] + [None], pa.int64()),
                         "is_delete_marker": pa.array([False] * len(keys) + [True])})
        data_key = f"{prefix}/data/part-1.{fmt.lower()}"
        with fs.open_output_stream(f"{BUCKET}/{data_key}") as stream:
            if fmt == "ORC":
                import pyarrow.orc as orc
                orc.write_table(data, stream)
            else:
                pq.write_table(data, stream)
        schema = "bucket, key, size, is_delete_marker"
    manifest = {"sourceBucket": BUCKET, "destinationBucket": f"arn:aws:s3:::{BUCKET}",
                "fileFormat": fmt, "fileSchema": schema,
                "files": [{"key": data_key, "size": 1, "MD5checksum": "x"}]}
    uri = f"{BUCKET}/{prefix}/2026-12-01T00-00Z/manifest.json"
    with fs.open_output_stream(uri) as stream:
        stream.write(json.dumps(manifest).encode())
    return f"s3://{uri}", keys


@pytest.mark.parametrize("fmt", ["CSV", "Parquet", "ORC"])
def test_s3_inventory_report(s3, loose_in_s3, tmp_path, fmt):
    uri, keys = write_inventory(s3, fmt)
    _, out = s3_run(s3, tmp_path, uri)
    features = table(out / "features")
    # Keys with spaces ("Apple Braeburn/...") arrive URL-encoded in CSV and decoded here.
    assert features.column("path").to_pylist() == sorted(f"s3://{BUCKET}/{k}" for k in keys)
    assert set(features.column("label").to_pylist()) == {p.parent.name for p in IMAGES}
    assert pq.read_table(out / "errors").num_rows == 0
