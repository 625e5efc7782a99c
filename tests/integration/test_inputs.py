"""Manifest and WebDataset tar inputs (issue 24): the same rows as the loose files, and
hostile shards and manifests as error rows, never a crash or a lost good row.

Every input is built here from data/sample: tar shards with Python's tarfile (hostile ones
by hand: truncated, traversal names, links, oversized members, a FIFO named x.tar), and
manifests in CSV, JSON lines and Parquet (NUL bytes, non-UTF-8, huge cells, '..').
"""
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard
from spark_parity import spark_env

IMAGES = sorted(SAMPLE.rglob("*.jpg"))


def add_bytes(tar, name, data, **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def key_of(image):
    return f"{image.parent.name.replace(' ', '_')}_{image.stem}"


def make_shards(folder, count=3, fmt=tarfile.GNU_FORMAT):
    """data/sample as `count` shards: per sample KEY.jpg, KEY.cls (label), KEY.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(count):
        with tarfile.open(folder / f"{shard:05d}.tar", "w", format=fmt) as tar:
            for image in IMAGES[shard::count]:
                key = key_of(image)
                tar.add(image, arcname=f"{key}.jpg")
                add_bytes(tar, f"{key}.cls", image.parent.name.encode())
                add_bytes(tar, f"{key}.json", json.dumps({"fruit": image.parent.name}).encode())
    return folder


def table(folder):
    return pq.read_table(folder).sort_by("path")


def vectors_by_image(out, key_to_image):
    """{image file: feature vector} of an output whose paths name the images by key."""
    features = table(out / "features")
    result = {}
    for path, vector in zip(features.column("path").to_pylist(),
                            features.column("features").to_pylist()):
        result[key_to_image(path)] = np.array(vector)
    return result


@pytest.fixture(scope="module")
def loose(tmp_path_factory):
    """The loose-file run of data/sample: every input kind must give its vectors."""
    out = tmp_path_factory.mktemp("loose") / "out"
    run_orchard("run", "-i", SAMPLE, "-o", out, "-q", "--threads", 2)
    features = table(out / "features")
    return {SAMPLE / path: np.array(vector) for path, vector in
            zip(features.column("path").to_pylist(), features.column("features").to_pylist())}


def errors_by_path(out):
    return {row["path"]: row for row in pq.read_table(out / "errors").to_pylist()}


# ---------------------------------------------------------------- tar shards


def test_tar_shards_give_the_loose_files_vectors_and_labels(tmp_path, loose):
    shards = make_shards(tmp_path / "shards")
    by_key = {key_of(image): image for image in IMAGES}
    for label_from, given in (("cls", ["--label-from", "cls"]),
                              ("json", ["--label-from", "json:fruit"])):
        out = tmp_path / f"out-{label_from}"
        run_orchard("run", "-i", shards, "-o", out, "-q", "--threads", 2, *given)
        features = table(out / "features")
        assert features.num_rows == len(IMAGES)
        paths = features.column("path").to_pylist()
        assert all(p.split("/")[0] in {"00000.tar", "00001.tar", "00002.tar"} for p in paths)
        labels = dict(zip(paths, features.column("label").to_pylist()))
        for path, label in labels.items():
            assert label == by_key[path.split("/")[1][:-4]].parent.name
        got = vectors_by_image(out, lambda p: by_key[p.split("/")[1][:-4]])
        for image, vector in got.items():
            np.testing.assert_allclose(vector, loose[image], rtol=0, atol=1e-6)
        assert pq.read_table(out / "errors").num_rows == 0


def test_label_from_the_shards_folder_and_brace_notation(tmp_path):
    for label in ("Mango", "Kiwi"):
        make_shards(tmp_path / "shards" / label, count=2)
    out = tmp_path / "out"
    # {00000..00002}: shard 00002 does not exist in either folder: one error row each.
    pattern = str(tmp_path / "shards" / "{Mango,Kiwi}" / "{00000..00002}.tar")
    run_orchard("run", "-i", pattern, "-o", out, "-q", "--threads", 2)
    features = table(out / "features")
    assert features.num_rows == 2 * len(IMAGES)
    assert set(features.column("label").to_pylist()) == {"Mango", "Kiwi"}
    assert all(p.startswith(("Mango/0000", "Kiwi/0000")) for p in features.column("path").to_pylist())
    errors = errors_by_path(out)
    assert set(errors) == {"Mango/00002.tar", "Kiwi/00002.tar"}
    assert all("does not exist" in row["message"] for row in errors.values())


def hostile_shards(folder, huge_bytes):
    """Shards with every kind of bad member beside good ones; returns the good count."""
    folder.mkdir()
    jpg = [image.read_bytes() for image in IMAGES[:8]]
    with tarfile.open(folder / "a.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, "good0.jpg", jpg[0])
        add_bytes(tar, "good0.cls", b"fruit")
        add_bytes(tar, "../escape.jpg", jpg[1])                   # traversal name
        add_bytes(tar, "/abs/olute.jpg", jpg[1])                  # absolute name
        add_bytes(tar, "link.jpg", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add_bytes(tar, "hard.jpg", b"", type=tarfile.LNKTYPE, linkname="good0.jpg")
        add_bytes(tar, "fifo.jpg", b"", type=tarfile.FIFOTYPE)
        add_bytes(tar, "dev.jpg", b"", type=tarfile.CHRTYPE, devmajor=1, devminor=5)
        add_bytes(tar, "huge.jpg", b"\xff" * huge_bytes)          # over --max-file-bytes
        add_bytes(tar, "huge.cls", b"fruit")
        add_bytes(tar, "junk.jpg", b"not an image at all")       # a decode error
        add_bytes(tar, "junk.cls", b"fruit")
        # GNU sparse 1.0 (pax): two data regions with a hole between; the map leads the data.
        regions = b"2\n0\n1000\n9000\n1000\n"
        add_bytes(tar, "GNUSparseFile.0/sparse.jpg",
                  regions + b"\0" * (512 - len(regions)) + jpg[0][:2000],
                  pax_headers={"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                               "GNU.sparse.name": "sparse.jpg",
                               "GNU.sparse.realsize": "10000"})
        add_bytes(tar, "sparse.cls", b"fruit")
        add_bytes(tar, "onlyjson.json", b"{}")                    # a sample without image
        add_bytes(tar, "n" * 5000 + ".jpg", jpg[2])               # a pax name over 4096 bytes
        add_bytes(tar, "._good0.jpg", b"macOS metadata")          # hidden: skipped
        add_bytes(tar, "good1.JPEG", jpg[3])
        add_bytes(tar, "good1.cls", b"  fruit\n")
        add_bytes(tar, "dir/good2.seg.png", (SAMPLE / "Mango").joinpath(
            sorted(os.listdir(SAMPLE / "Mango"))[0]).read_bytes())  # a JPEG named .png: decodes
        add_bytes(tar, "dir/good2.cls", b"fruit")
        add_bytes(tar, "nolabel.jpg", jpg[4])                     # no .cls for --label-from cls
        add_bytes(tar, "biglabel.jpg", jpg[5])
        add_bytes(tar, "biglabel.cls", b"x" * (70 << 10))         # label member over 64 KiB
    # Truncated: a whole first sample, then the shard cut inside the second image.
    whole = io.BytesIO()
    with tarfile.open(fileobj=whole, mode="w") as tar:
        add_bytes(tar, "t0.jpg", jpg[6])
        add_bytes(tar, "t0.cls", b"fruit")
        add_bytes(tar, "t1.jpg", jpg[7])
        add_bytes(tar, "t1.cls", b"fruit")
    data = whole.getvalue()
    cut = data.find(jpg[7]) + len(jpg[7]) // 2
    (folder / "b.tar").write_bytes(data[:cut])
    (folder / "c.tar").write_bytes(b"this is not a tar file at all, just text\n" * 40)
    with tarfile.open(folder / "d.tar", "w:gz") as tar:           # compressed: refused
        add_bytes(tar, "z.jpg", jpg[0])
    (folder / "e.tar").write_bytes(b"")                            # empty: no samples
    os.mkfifo(folder / "f.tar")                                    # never opened for reading
    return {"a.tar/good0.jpg", "a.tar/good1.JPEG", "a.tar/dir/good2.seg.png", "b.tar/t0.jpg"}


def test_hostile_shards_are_error_rows_and_the_good_samples_stay(tmp_path):
    huge = 3 << 20
    good = hostile_shards(tmp_path / "shards", huge)
    out = tmp_path / "out"
    proc = run_orchard("run", "-i", tmp_path / "shards", "-o", out, "-q", "--threads", 2,
                       "--label-from", "cls", "--max-file-bytes", huge - 1, timeout=300)
    assert proc.returncode == 0
    features = table(out / "features")
    assert set(features.column("path").to_pylist()) == good
    assert set(features.column("label").to_pylist()) == {"fruit"}
    errors = errors_by_path(out)
    expect = {
        "a.tar/../escape.jpg": "'..'", "a.tar//abs/olute.jpg": "absolute",
        "a.tar/link.jpg": "symbolic link", "a.tar/hard.jpg": "hard link",
        "a.tar/fifo.jpg": "FIFO", "a.tar/dev.jpg": "device", "a.tar/sparse.jpg": "sparse",
        "a.tar/huge.jpg": "--max-file-bytes", "a.tar/onlyjson": "no image member",
        "a.tar/nolabel.jpg": "no .cls member", "a.tar/biglabel.jpg": "at most",
        "b.tar/t1.jpg": "truncated", "b.tar": "not a whole tar",
        "c.tar": "not an uncompressed tar", "d.tar": "not an uncompressed tar",
    }
    for path, words in expect.items():
        assert path in errors, (path, sorted(errors))
        assert words in errors[path]["message"], (path, errors[path])
    assert errors["a.tar/junk.jpg"]["stage"] == "decode"
    assert errors["a.tar/huge.jpg"]["stage"] == "read"
    assert errors["a.tar/link.jpg"]["stage"] == "list"
    assert any("4096" in row["message"] for row in errors.values())
    # The FIFO shard is a row of its own, and the run did not block on it.
    assert "f.tar" in errors
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["images"]["ok"] == len(good)


# ---------------------------------------------------------------- manifests


def write_csv(path, rows, header=b"path,label"):
    path.write_bytes(header + b"\n" + b"\n".join(rows) + b"\n")


def test_manifests_csv_jsonl_parquet_give_the_loose_vectors(tmp_path, loose):
    images = tmp_path / "images"
    shutil.copytree(SAMPLE, images)
    relative = [str(image.relative_to(SAMPLE)) for image in IMAGES]
    csv = images / "list.csv"
    write_csv(csv, [f'"{r}",'.encode() for r in relative])
    jsonl = images / "list.jsonl"
    jsonl.write_text("".join(json.dumps({"uri": str(images / r)}) + "\n" for r in relative))
    parquet = images / "list.parquet"
    pq.write_table(pa.table({"key": relative, "label": [7] * len(relative)}), parquet)
    for manifest in (csv, jsonl, parquet):
        out = tmp_path / f"out-{manifest.suffix[1:]}"
        run_orchard("run", "-i", manifest, "-o", out, "-q", "--threads", 2)
        features = table(out / "features")
        assert features.num_rows == len(IMAGES)
        labels = set(features.column("label").to_pylist())
        if manifest is parquet:
            assert labels == {"7"}  # an integer label column is its text
        else:
            assert labels == {image.parent.name for image in IMAGES}
        for path, vector in zip(features.column("path").to_pylist(),
                                features.column("features").to_pylist()):
            source = pathlib.Path(path) if path.startswith("/") else images / path
            np.testing.assert_allclose(np.array(vector), loose[SAMPLE / source.relative_to(images)],
                                       rtol=0, atol=1e-6)


def test_hostile_csv_manifest_rows_are_error_rows(tmp_path):
    images = tmp_path / "m"
    shutil.copytree(SAMPLE, images)
    good = [str(image.relative_to(SAMPLE)).encode() for image in IMAGES[:3]]
    outside = tmp_path / "outside.jpg"
    shutil.copy(IMAGES[0], outside)
    rows = [b'"' + good[0] + b'",a', b'"./' + good[1] + b'",b',
            str(outside).encode() + b",abs",                   # absolute local: allowed
            b"../outside.jpg,x",                               # leaves the folder
            b"missing/file.jpg,x",                             # a read error row
            b'"bad\x00nul.jpg",x',                             # NUL byte
            b'"' + b"q" * 10000 + b'",x',                      # a huge cell
            b"\xff\xfe-not-utf8.jpg,x",                        # a name that is not UTF-8
            b"s3://bucket/key.jpg,x",                          # s3 in a local manifest
            b"http://example.com/a.jpg,x",                     # other schemes
            b",x",                                             # empty
            b"a,b,c,d",                                        # wrong column count
            b'"' + good[2] + b'",c',
            b'"' + good[2] + b'",duplicate']                   # the same path again
    (images / "\xff\xfe-not-utf8.jpg".encode("latin-1").decode("utf-8", "surrogateescape")
     ).write_bytes(IMAGES[3].read_bytes())
    write_csv(images / "m.csv", rows)
    out = tmp_path / "out"
    run_orchard("run", "-i", images / "m.csv", "-o", out, "-q", "--threads", 2)
    features = table(out / "features")
    paths = features.column("path").to_pylist()
    assert len(paths) == 5 and str(outside) in paths and "%FF%FE-not-utf8.jpg" in paths
    assert dict(zip(paths, features.column("label").to_pylist()))[good[2].decode()] == "c"
    errors = errors_by_path(out)
    messages = {path: row["message"] for path, row in errors.items()}
    assert "leaves the manifest's folder" in messages["../outside.jpg"]
    assert errors["missing/file.jpg"]["stage"] == "read"
    assert "NUL" in messages["m.csv:row 6"]
    assert "10000 bytes" in messages["m.csv:row 7"]
    assert "local manifest" in messages["s3://bucket/key.jpg"]
    assert "unsupported URI scheme" in messages["http://example.com/a.jpg"]
    assert "empty" in messages["m.csv:row 11"]
    assert any("columns" in m for p, m in messages.items() if p.startswith("m.csv:line"))


def test_hostile_jsonl_and_parquet_manifests(tmp_path):
    images = tmp_path / "m"
    shutil.copytree(SAMPLE, images)
    good = [str(image.relative_to(SAMPLE)) for image in IMAGES[:2]]
    lines = [json.dumps({"path": good[0]}).encode(), b"{not json", b"[1, 2]",
             json.dumps({"path": 17}).encode(), json.dumps({"label": "x"}).encode(),
             json.dumps({"path": good[1], "label": {"a": 1}}).encode(),
             b'{"path": "' + b"z" * (2 << 20) + b'"}',  # a line over 1 MiB, skipped unheld
             b"\xff\xfe", b"", json.dumps({"path": good[1], "label": 3}).encode()]
    (images / "m.jsonl").write_bytes(b"\n".join(lines))
    out = tmp_path / "out"
    run_orchard("run", "-i", images / "m.jsonl", "-o", out, "-q", "--threads", 2)
    features = table(out / "features")
    assert features.column("path").to_pylist() == sorted(good)
    assert dict(zip(features.column("path").to_pylist(),
                    features.column("label").to_pylist()))[good[1]] == "3"
    errors = errors_by_path(out)
    assert {f"m.jsonl:line {n}" for n in (2, 3, 4, 5, 6, 7, 8)} <= set(errors)
    assert "longer than" in errors["m.jsonl:line 7"]["message"]
    # A path column of the wrong type is the manifest's fault: the job fails, naming it.
    pq.write_table(pa.table({"path": [1, 2]}), images / "ints.parquet")
    proc = run_orchard("run", "-i", images / "ints.parquet", "-o", tmp_path / "o2", check=False)
    assert proc.returncode != 0 and "'path' is int64" in proc.stderr
    pq.write_table(pa.table({"file": ["a"]}), images / "none.parquet")
    proc = run_orchard("run", "-i", images / "none.parquet", "-o", tmp_path / "o3", check=False)
    assert proc.returncode != 0 and "no path column" in proc.stderr


def test_a_manifest_of_a_million_rows(tmp_path):
    """10^6 rows (most naming missing files) list and fail row by row, never crash; the
    good ones are featurized."""
    images = tmp_path / "m"
    shutil.copytree(SAMPLE, images)
    good = [str(image.relative_to(SAMPLE)) for image in IMAGES[:2]]
    with open(images / "big.csv", "w") as manifest:
        manifest.write("path\n" + "\n".join(good) + "\n")
        manifest.writelines(f"gone/{n}.jpg\n" for n in range(1_000_000))
    out = tmp_path / "out"
    run_orchard("run", "-i", images / "big.csv", "-o", out, "-q", "--threads", 2, timeout=900)
    assert table(out / "features").num_rows == 2
    assert pq.read_table(out / "errors").num_rows == 1_000_000


# ---------------------------------------------------------------- Spark parity


def test_spark_matches_the_cli_on_tar_shards(tmp_path):
    shards = make_shards(tmp_path / "shards")
    hostile_shards(tmp_path / "shards" / "bad", 3 << 20)
    (tmp_path / "shards" / "bad" / "f.tar").unlink()  # Spark's driver lists it the same way
    cli = tmp_path / "cli"
    args = ["--label-from", "cls", "--max-file-bytes", (3 << 20) - 1]
    run_orchard("run", "-i", shards, "-o", cli, "-q", "--threads", 2, *args)
    spark = tmp_path / "spark"
    proc = subprocess.run([sys.executable, "-m", "orchard.spark", "--master", "local[2]",
                           "--input", str(shards), "--output", str(spark), "--rows-per-batch",
                           "16", "--batch-size", "8", *map(str, args)],
                          capture_output=True, text=True, env=spark_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    c_features, s_features = table(cli / "features"), table(spark / "features")
    assert c_features.column("path").to_pylist() == s_features.column("path").to_pylist()
    assert c_features.column("label").to_pylist() == s_features.column("label").to_pylist()
    np.testing.assert_allclose(np.array(s_features.column("features").to_pylist()),
                               np.array(c_features.column("features").to_pylist()),
                               rtol=0, atol=1e-5)
    c_errors = sorted(pq.read_table(cli / "errors").to_pylist(), key=lambda r: r["path"])
    s_errors = sorted(pq.read_table(spark / "errors").to_pylist(), key=lambda r: r["path"])
    assert c_errors == s_errors and len(c_errors) > 10


# ---------------------------------------------------------------- orchard pack


def test_pack_then_run_gives_the_loose_files_rows(tmp_path, loose):
    shards = tmp_path / "shards"
    proc = run_orchard("pack", "-i", SAMPLE, "-o", shards, "--samples-per-shard", 25)
    assert json.loads(proc.stdout) == {"samples": len(IMAGES), "shards": 3, "skipped": 0}
    assert sorted(p.name for p in shards.iterdir()) == ["00000.tar", "00001.tar", "00002.tar"]
    with tarfile.open(shards / "00000.tar") as tar:  # a WebDataset reader's view
        names = tar.getnames()
    assert names[:3] == ["000000000.jpg", "000000000.cls", "000000000.json"]
    out = tmp_path / "out"
    run_orchard("run", "-i", shards, "-o", out, "-q", "--threads", 2, "--label-from", "cls")
    features = table(out / "features")
    assert features.num_rows == len(IMAGES)
    by_shard_path = {}
    for shard in sorted(shards.iterdir()):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    meta = json.loads(tar.extractfile(member).read())
                    by_shard_path[f"{shard.name}/{member.name[:-5]}.jpg"] = meta
    for path, label, vector in zip(features.column("path").to_pylist(),
                                   features.column("label").to_pylist(),
                                   features.column("features").to_pylist()):
        assert label == by_shard_path[path]["label"]
        np.testing.assert_allclose(np.array(vector), loose[SAMPLE / by_shard_path[path]["path"]],
                                   rtol=0, atol=1e-6)
    # Into a folder holding anything: refused, nothing written.
    again = run_orchard("pack", "-i", SAMPLE, "-o", shards, check=False)
    assert again.returncode != 0 and "not empty" in again.stderr


def test_a_csv_column_orchard_does_not_read_cannot_stop_the_reading(tmp_path):
    """Arrow infers a column's type from the first block; a later value it refuses (text in
    a column of integers, 2 MB in) must not cost the rows after it."""
    images = tmp_path / "m"
    shutil.copytree(SAMPLE, images)
    good = [str(image.relative_to(SAMPLE)) for image in IMAGES[:2]]
    with open(images / "typed.csv", "w") as manifest:
        manifest.write("path,size\n")
        manifest.writelines(f"gone/{n}.jpg,{n}\n" for n in range(150_000))
        manifest.writelines(f'"{path}",not-a-number\n' for path in good)
    out = tmp_path / "out"
    run_orchard("run", "-i", images / "typed.csv", "-o", out, "-q", "--threads", 2)
    assert table(out / "features").column("path").to_pylist() == sorted(good)
    assert pq.read_table(out / "errors").num_rows == 150_000
