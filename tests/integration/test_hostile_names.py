"""File and folder names that are not text (issue 21): the real CLI on an input whose names
are invalid UTF-8, look like escapes of each other, or hold terminal controls and bidi
overrides, into an output folder whose own name is not UTF-8.

Each name is made by the test (bytes paths in a tmp dir). The rule under test
(docs/decisions.md, "Names are escaped, not guessed"): every `path` and `label` is valid
UTF-8, distinct files keep distinct values, `unquote_to_bytes(path)` joined with the input
root is the file, and nothing orchard prints carries a control sequence from a name.
"""
import csv
import io
import json
import os
import shutil
import subprocess
import urllib.parse

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, orchard_binary

# Raw folder names (bytes). Two pairs would collide under a non-injective escape:
# b"col\xffx" vs the folder literally named "col%FFx", and the surrogate vs its %-text.
FOLDERS = [
    b"col\xffx",
    b"col%FFx",
    b"sur\xed\xa0\x80",            # an encoded surrogate (U+D800): not UTF-8
    b"sur%ED%A0%80",
    b"long\xc0\xaf\xf4\x90\x80\x80",  # an overlong '/' and a code point above U+10FFFF
    b"esc\x1b[31mred\x1b]0;pwned\x07",  # ANSI colour and a terminal title
    b"line\r\nimages     999 ok",       # a CR/LF forging a summary line
    "bidi\u202eevil\u2066".encode(),    # RIGHT-TO-LEFT OVERRIDE, LEFT-TO-RIGHT ISOLATE
]
FILES = [b"a.jpg", b"\xfe\xff.jpg", "gpj.\u202eexe.jpg".encode(), b"tab\there\x1b[2J.jpg"]
BROKEN = b"broken\xff\r\n.jpg"  # not an image: an errors row with a hostile path

# Bytes that must never reach a terminal from a name: ESC, CR, BEL, C1 CSI, and the UTF-8 of
# the bidi embeddings/overrides/isolates and marks.
FORBIDDEN = [b"\x1b", b"\r", b"\x07", b"\xc2\x9b"] + [
    chr(code).encode() for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E,
                                    0x200F, 0x061C, 0x2028, 0x2029]]


def run(*args, expect=0):
    """Runs the CLI with bytes arguments; returns (stdout, stderr) as bytes."""
    proc = subprocess.run([os.fsencode(orchard_binary()), *[os.fsencode(a) for a in args]],
                          capture_output=True, timeout=600)
    assert proc.returncode == expect, (args, proc.returncode, proc.stderr)
    for stream in (proc.stdout, proc.stderr):
        for forbidden in FORBIDDEN:
            assert forbidden not in stream, (args, forbidden, stream)
    return proc.stdout, proc.stderr


def read_table(folder: bytes):
    """Every part of a table folder (pyarrow cannot open a non-UTF-8 path by name)."""
    rows = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(b".parquet"):
            with open(os.path.join(folder, name), "rb") as handle:
                rows.extend(pq.read_table(handle).to_pylist())  # fails on invalid UTF-8
    return rows


def raw_of(escaped: str) -> bytes:
    return urllib.parse.unquote_to_bytes(escaped)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = os.fsencode(tmp_path_factory.mktemp("hostile"))
    images = sorted(p for p in SAMPLE.rglob("*.jpg"))
    inp = os.path.join(root, b"in\xff")  # the input folder's own name is not UTF-8 either
    sources = []
    for folder_idx, folder in enumerate(FOLDERS):
        os.makedirs(os.path.join(inp, folder))
        for file_idx, name in enumerate(FILES):
            image = images[(folder_idx * len(FILES) + file_idx) % len(images)]
            target = os.path.join(inp, folder, name)
            shutil.copyfile(image, target)
            sources.append(folder + b"/" + name)
    with open(os.path.join(inp, FOLDERS[0], BROKEN), "wb") as handle:
        handle.write(b"this is not an image")
    out = os.path.join(root, b"out\xff\x1b[0m")
    stdout, stderr = run("run", "-i", inp, "-o", out, "--batch-size", "8")
    return {"root": root, "input": inp, "output": out, "sources": sources,
            "run_stdout": stdout, "run_stderr": stderr}


def test_run_writes_valid_distinct_reversible_names(hostile):
    features = read_table(os.path.join(hostile["output"], b"features"))
    assert len(features) == len(hostile["sources"])
    paths = [row["path"] for row in features]
    assert len(set(paths)) == len(paths)
    # Each path decodes to the file it came from, and finds it below the input root.
    assert sorted(raw_of(path) for path in paths) == sorted(hostile["sources"])
    for row in features:
        assert os.path.isfile(os.path.join(hostile["input"], raw_of(row["path"])))
        assert raw_of(row["label"]) == raw_of(row["path"]).split(b"/")[0]
    labels = {row["label"] for row in features}
    assert {raw_of(label) for label in labels} == set(FOLDERS)
    assert len(labels) == len(FOLDERS)  # col\xffx and col%FFx stay two labels
    assert {"col%FFx", "col%25FFx"} <= labels
    # Valid names without '%' are written as they are, controls included.
    assert "esc\x1b[31mred\x1b]0;pwned\x07" in labels
    assert "bidi\u202eevil\u2066" in labels

    errors = read_table(os.path.join(hostile["output"], b"errors"))
    assert [raw_of(row["path"]) for row in errors] == [FOLDERS[0] + b"/" + BROKEN]
    pca = read_table(os.path.join(hostile["output"], b"pca"))
    assert sorted(row["path"] for row in pca) == sorted(paths)


def test_run_prints_names_inert(hostile):
    # The summary names the output; its CR/LF-free form cannot forge a line.
    lines = hostile["run_stderr"].decode().splitlines()
    assert any(line.startswith("output ") and "%FF%1B[0m" in line for line in lines)
    assert not any(line.startswith("images     999") for line in lines)
    assert any("broken%FF%0D%0A.jpg" in line for line in lines if line.startswith("warning:"))


def test_summary_and_report_are_valid_text(hostile):
    out = hostile["output"]
    with open(os.path.join(out, b"report", b"summary.json"), "rb") as handle:
        summary = json.loads(handle.read().decode("utf-8", errors="strict"))
    assert summary["images"]["failed"] == 1
    assert summary["output"].endswith("out%FF\x1b[0m")
    with open(os.path.join(out, b"report", b"index.html"), "rb") as handle:
        page = handle.read().decode("utf-8", errors="strict")
    for bidi in ("\u202e", "\u2066"):
        assert bidi not in page  # shown as its escape, not applied to the page
    assert "%E2%80%AE" in page


def test_json_summary_and_inspect_are_ascii_json(hostile, tmp_path):
    out = os.fsencode(tmp_path) + b"/json\xfe"
    stdout, _ = run("featurize", "-i", hostile["input"], "-o", out, "--json", "-q")
    stdout.decode("ascii")
    assert json.loads(stdout)["images"]["ok"] == len(hostile["sources"])
    stdout, _ = run("inspect", hostile["output"])
    stdout.decode("ascii")
    inspected = json.loads(stdout)
    assert inspected["complete"] is True


@pytest.fixture(scope="module")
def classifier(hostile):
    model = os.path.join(hostile["root"], b"model\xff")
    run("train", "-i", hostile["output"], "-o", model, "--validation-split", "0", "--c", "1")
    with open(os.path.join(model, b"classifier.json"), "rb") as handle:
        saved = json.loads(handle.read().decode("utf-8", errors="strict"))
    return model, saved


def test_train_keeps_every_label_distinct(classifier):
    _, saved = classifier
    assert len(saved["classes"]) == len(FOLDERS)
    assert {raw_of(name) for name in saved["classes"]} == set(FOLDERS)


def test_train_on_a_label_that_reached_parquet_unescaped(hostile, tmp_path):
    """A features table written elsewhere with invalid UTF-8 labels: train must not abort."""
    import pyarrow as pa

    copy = os.fsencode(tmp_path) + b"/foreign"
    shutil.copytree(hostile["output"], copy)
    features = os.path.join(copy, b"features")
    parts = sorted(name for name in os.listdir(features) if name.endswith(b".parquet"))
    with open(os.path.join(features, parts[0]), "rb") as handle:
        table = pq.read_table(handle)
    raw_labels = [raw_of(label) for label in table.column("label").to_pylist()]
    invalid = pa.array(raw_labels, type=pa.binary()).view(pa.string())
    table = table.set_column(table.schema.get_field_index("label"), "label", invalid)
    with open(os.path.join(features, parts[0]), "wb") as handle:
        pq.write_table(table, handle)
    model = os.fsencode(tmp_path) + b"/model"
    run("train", "-i", copy, "-o", model, "--validation-split", "0", "--c", "1", "-q")
    with open(os.path.join(model, b"classifier.json"), "rb") as handle:
        handle.read().decode("utf-8", errors="strict")


def test_predict_files_prints_a_well_formed_tsv(hostile, classifier):
    model, _ = classifier
    files = [os.path.join(hostile["input"], source) for source in hostile["sources"][:6]]
    broken = os.path.join(hostile["input"], FOLDERS[0], BROKEN)
    stdout, _ = run("predict", "-m", model, "--top", "3", *files, broken, expect=1)
    rows = list(csv.reader(io.StringIO(stdout.decode("utf-8")), delimiter="\t",
                           quoting=csv.QUOTE_NONE))
    assert rows[0] == ["path", "rank", "label", "probability", "error"]
    assert all(len(row) == 5 for row in rows)
    body = rows[1:]
    assert len(body) == 3 * len(files) + 1
    assert [raw_of(row[0]) for row in body[::3][:len(files)]] == files
    labels = {raw_of(row[2]) for row in body if row[1]}
    assert labels <= set(FOLDERS)
    assert raw_of(body[-1][0]) == broken and body[-1][1:4] == ["", "", ""] and body[-1][4]


def test_predict_files_json(hostile, classifier):
    model, _ = classifier
    files = [os.path.join(hostile["input"], source) for source in hostile["sources"][-4:]]
    stdout, _ = run("predict", "-m", model, "--json", *files)
    stdout.decode("ascii")
    predictions = json.loads(stdout)
    assert [raw_of(entry["path"]) for entry in predictions] == files
    for entry in predictions:
        assert {raw_of(top["label"]) for top in entry["top"]} <= set(FOLDERS)


def test_predict_folder_writes_readable_predictions(hostile, classifier, tmp_path):
    model, _ = classifier
    out = os.fsencode(tmp_path) + b"/pred\x1b\xff"
    run("predict", "-m", model, "-i", hostile["input"], "-o", out, "-q")
    predictions = read_table(os.path.join(out, b"predictions"))
    assert sorted(raw_of(row["path"]) for row in predictions) == sorted(hostile["sources"])
    assert {raw_of(row["label"]) for row in predictions} == set(FOLDERS)
    # From the earlier output: the same paths, no file read.
    again = os.fsencode(tmp_path) + b"/again"
    run("predict", "-m", model, "-i", out, "-o", again, "-q")
    assert sorted(row["path"] for row in read_table(os.path.join(again, b"predictions"))) == \
        sorted(row["path"] for row in predictions)
