"""orchard's job-level Python API against the command line it wraps (in-tree extension):
every flag is a keyword with the flag's default, options become the same command line,
failures raise the OrchardError subclass of the CLI's exit code with the CLI's message,
Ctrl-C raises Interrupted (exit 130) and leaves Python's own SIGINT handling intact, and
the in-memory helpers (embed, read) give what the CLI's tables hold."""
import inspect
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

import orchard
from orchard import _native, api
from conftest import REPO, SAMPLE, orchard_binary, run_orchard

FUNCTIONS = {"run": orchard.run, "featurize": orchard.featurize, "fit-pca": orchard.fit_pca,
             "project": orchard.project, "train": orchard.train, "predict": orchard.predict,
             "inspect": orchard.inspect, "pack": orchard.pack, "index": orchard.index,
             "search": orchard.search, "dedup": orchard.dedup}


def test_every_flag_is_a_keyword_with_the_flags_default():
    assert set(FUNCTIONS) == set(api.COMMANDS), "a command without a function (or the reverse)"
    for command, function in FUNCTIONS.items():
        parameters = inspect.signature(function).parameters
        flags = {name for name in api.COMMANDS[command] if name not in ("json", "quiet")}
        own = set(parameters) - {"progress"}
        assert own == flags, f"{command}: {sorted(own ^ flags)}"
        for name in flags:
            default = parameters[name].default
            if command in ("predict", "search") and name in ("input", "output", "files"):
                assert default is None, name  # not given: predict's other mode
                continue
            if parameters[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and \
                    default is inspect.Parameter.empty:
                assert api.COMMANDS[command][name]["required"] or command in ("predict",
                                                                               "search"), name
                continue
            assert default == api.option_default(command, name), (command, name, default)
    # The defaults come from the core: the same values the jobs use.
    run = inspect.signature(orchard.run).parameters
    for name in ("batch_size", "rows_per_part", "max_pixels", "max_file_bytes", "pca_variance",
                 "output_name", "threads", "pca_k"):
        assert run[name].default == _native.JOB_DEFAULTS[name], name


def test_options_become_the_command_line():
    assert api.command_arguments("run", {"input": "in", "output": "out"}) == \
        ["run", "--input=in", "--output=out"]
    # At their default, left out; switches as flags; a value starting with '-' stays a value.
    assert api.command_arguments("run", {"input": "-in", "output": "out", "batch_size": 32,
                                         "overwrite": True, "resume": False, "pca_k": 5}) == \
        ["run", "--input=-in", "--output=out", "--overwrite", "--pca-k=5"]
    # Positional values after "--".
    assert api.command_arguments("predict", {"model": "m", "files": ["-a.jpg", "b.jpg"]}) == \
        ["predict", "--model=m", "--", "-a.jpg", "b.jpg"]
    with pytest.raises(TypeError, match="switch"):
        api.command_arguments("run", {"overwrite": "yes"})
    with pytest.raises(TypeError, match="no option 'json'"):
        api.command_arguments("run", {"json": True})
    with pytest.raises(TypeError):
        orchard.run("in", "out", batchsize=3)  # not a flag of run


def cli_message(*args):
    """The exit code and the message of the CLI's last stderr line, without 'orchard: '
    and 'error: '."""
    proc = run_orchard(*args, check=False)
    line = proc.stderr.strip().splitlines()[-1]
    prefix = "orchard: error: " if line.startswith("orchard: error: ") else "orchard: "
    return proc.returncode, line[len(prefix):]


@pytest.mark.parametrize("call, argv, cls", [
    (lambda out: orchard.run(SAMPLE, out, batch_size=0),
     lambda out: ["run", "-i", SAMPLE, "-o", out, "-b", "0"], orchard.UsageError),
    (lambda out: orchard.run(SAMPLE, SAMPLE / "inside"),
     lambda out: ["run", "-i", SAMPLE, "-o", SAMPLE / "inside"], orchard.UsageError),
    (lambda out: orchard.run(out / "missing", out / "o"),
     lambda out: ["run", "-i", out / "missing", "-o", out / "o"], orchard.OrchardError),
    (lambda out: orchard.fit_pca(out / "nothing"),
     lambda out: ["fit-pca", "-o", out / "nothing"], orchard.InputError),
    (lambda out: orchard.run(SAMPLE, out / "o", model=str(out / "no.onnx")),
     lambda out: ["run", "-i", SAMPLE, "-o", out / "o", "-m", out / "no.onnx"],
     orchard.OrchardError),
])
def test_errors_carry_the_cli_message_and_exit_code(tmp_path, call, argv, cls):
    code, message = cli_message(*argv(tmp_path))
    with pytest.raises(cls) as caught:
        call(tmp_path)
    error = caught.value
    assert error.exit_code == code and str(error) == message
    assert isinstance(error, orchard.UsageError) == (code == 2)
    assert isinstance(error, orchard.OrchardError) and not isinstance(error, orchard.Interrupted)


def test_summary_mirrors_summary_json_and_read_gives_the_tables(tmp_path):
    out = tmp_path / "out"
    summary = orchard.run(SAMPLE, out, batch_size=16)
    document = json.loads((out / "report" / "summary.json").read_text())
    assert summary.raw == document
    assert summary.command == "run" and summary.output == str(out)
    assert summary.images == orchard.ImageCounts(**document["images"])
    assert summary.pca.k == document["pca"]["k"] and summary.batch_size == 16
    assert summary["busy_seconds"] == document["busy_seconds"] == summary.busy_seconds
    with pytest.raises(AttributeError):
        summary.no_such_key
    tables = orchard.read(out)
    assert set(tables) == {"features", "errors", "pca"}
    for name, table in tables.items():
        assert table.equals(pq.read_table(out / name)), name
    # embed() computes what the run's features table holds, row for row.
    features = tables["features"].sort_by("path")
    paths = [str(SAMPLE / path) for path in features.column("path").to_pylist()[:6]]
    vectors = orchard.embed(paths)
    expected = np.asarray(features.column("features").to_pylist()[:6], np.float32)
    assert vectors.shape == (6, 1280) and np.array_equal(vectors, expected)
    # Same from bytes; a broken file raises, or is a NaN row with errors="nan".
    raw = [open(p, "rb").read() for p in paths[:2]]
    assert np.array_equal(orchard.embed(raw), expected[:2])
    with pytest.raises(orchard.InputError, match="image 1: decode"):
        orchard.embed([raw[0], b"not an image"])
    mixed = orchard.embed([raw[0], b"not an image"], errors="nan")
    assert np.array_equal(mixed[0], expected[0]) and np.isnan(mixed[1]).all()
    # An interrupted or foreign output is refused by read().
    with pytest.raises(orchard.InputError, match="_SUCCESS"):
        orchard.read(tmp_path)


def test_numpy_and_pil_images_embed_as_their_pixels():
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:, :15] = (200, 30, 10)
    pixels[5:, :, 2] = 250
    from_array = orchard.embed(pixels)
    as_bmp = orchard.embed(api._bmp(pixels))
    assert from_array.shape == (1, 1280) and np.array_equal(from_array, as_bmp)
    grey = orchard.embed(pixels[:, :, 0])
    assert np.array_equal(grey, orchard.embed(np.repeat(pixels[:, :, :1], 3, axis=2)))
    try:
        from PIL import Image
    except ImportError:
        return
    assert np.array_equal(orchard.embed(Image.fromarray(pixels)), from_array)


INTERRUPTED_API = r"""
import os, signal, sys, time
# SIGINT blocked and pending before the job starts: the job's handler must take it (a
# Ctrl-C that arrives at any moment of the run, made deterministic).
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
os.kill(os.getpid(), signal.SIGINT)
import orchard
try:
    orchard.run(sys.argv[1], sys.argv[2])
except orchard.Interrupted as error:
    print("interrupted", error.exit_code, isinstance(error, KeyboardInterrupt), error)
# Python's own handler is back: a Ctrl-C now is a KeyboardInterrupt.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)  # a signal ends the sleep at once
    print("no KeyboardInterrupt")
except KeyboardInterrupt:
    print("python handler ok")
"""


def test_ctrl_c_cancels_the_job_and_leaves_pythons_handler(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED_API, str(SAMPLE), str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("interrupted 130 True interrupted; nothing was published "
                        "(re-run with --resume)"), proc.stdout
    assert lines[1] == "python handler ok", proc.stdout
    assert not (tmp_path / "o" / "_SUCCESS").exists()
    # The executable, and `python -m orchard`, exit 130 the same way.
    for index, argv in enumerate(([orchard_binary()], [sys.executable, "-m", "orchard"])):
        proc = subprocess.run([*argv, "run", "-i", SAMPLE, "-o", tmp_path / f"cli{index}", "-q"],
                              capture_output=True, text=True, timeout=300, env=env,
                              preexec_fn=block_sigint_and_send_it)
        assert proc.returncode == 130, proc.stderr
        assert proc.stderr.strip().endswith("orchard: interrupted; nothing was published "
                                            "(re-run with --resume)"), proc.stderr


def block_sigint_and_send_it():
    """In the child before exec: SIGINT blocked (kept across exec) and already pending."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    os.kill(os.getpid(), signal.SIGINT)


def test_progress_true_draws_the_progress_line(tmp_path):
    script = "import orchard, sys; orchard.run(sys.argv[1], sys.argv[2], progress=True)"
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    quiet = subprocess.run([sys.executable, "-c", script.replace("progress=True", "progress=False"),
                            str(SAMPLE), str(tmp_path / "a")], capture_output=True, text=True,
                           timeout=300, env=env)
    assert quiet.returncode == 0 and "featurize 60/60" not in quiet.stderr, quiet.stderr
    drawn = subprocess.run([sys.executable, "-c", script, str(SAMPLE), str(tmp_path / "b")],
                           capture_output=True, text=True, timeout=300, env=env)
    assert drawn.returncode == 0, drawn.stderr
    assert "featurize 60/60 (100%)" in drawn.stderr and "took" in drawn.stderr, drawn.stderr


def test_python_m_orchard_is_the_command_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    for args in (["--version"], ["run", "--help"], ["run", "-i", SAMPLE, "-o", SAMPLE / "x"], []):
        via_python = subprocess.run([sys.executable, "-m", "orchard", *map(str, args)],
                                    capture_output=True, text=True, timeout=120, env=env)
        binary = run_orchard(*args, check=False)
        assert via_python.returncode == binary.returncode, args
        assert via_python.stdout == binary.stdout and via_python.stderr == binary.stderr, args


def test_train_and_predict_return_their_summaries_and_keep_the_good_files(tmp_path):
    orchard.run(SAMPLE, tmp_path / "run")
    trained = orchard.train(tmp_path / "run", tmp_path / "classifier", on="pca")
    assert trained.command == "train" and trained.training["rows"] == 60
    predicted = orchard.predict(tmp_path / "classifier", SAMPLE, tmp_path / "predicted")
    assert predicted.images.ok == 60 and predicted["rows"] == 60
    assert set(orchard.read(tmp_path / "predicted")) == {"features", "errors", "predictions"}
    photo = sorted(p for p in SAMPLE.rglob("*.jpg"))[0]
    missing = tmp_path / "missing.jpg"
    with pytest.raises(orchard.InputError, match="1 of 2 files could not be predicted") as caught:
        orchard.predict(tmp_path / "classifier", files=[photo, missing], top=2)
    entries = caught.value.summary["predictions"]
    assert [len(entry.get("top", [])) for entry in entries] == [2, 0] and "error" in entries[1]
    assert entries[0]["top"][0]["label"] == photo.parent.name
