"""orchard's job-level Python API: the `orchard` commands as functions, plus in-memory
helpers for notebooks.

Each job function runs the command line's own code (orchard._native.run_command, the
C++ RunCommand the `orchard` executable runs): its keyword options are the command's
flags with underscores (``batch_size`` is ``--batch-size``), defaulted as the flags are
(read from the command line's definition and JOB_DEFAULTS, never restated here), and
checked by the same code, so a value the command line refuses raises UsageError with the
message the command line prints. An option left at its default is not passed at all.
"""
from __future__ import annotations

import functools
import inspect as _inspect
import json
import os
import struct
import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from orchard import _native
from orchard.errors import InputError, error_for
from orchard.summary import Summary

PathLike = Union[str, "os.PathLike[str]"]

# The command line's definition: {command: {option name: spec}} (cli::DescribeCommands).
COMMANDS: Dict[str, Dict[str, Dict[str, Any]]] = {
    command: {spec["name"]: spec for spec in options}
    for command, options in json.loads(_native.describe_commands()).items()
}
# The front-end flags a function does not take: it returns the summary (no --json) and
# prints nothing but the warnings (`quiet`) and the progress line (`progress`).
_NOT_KEYWORDS = {"json", "quiet"}


def _typed(spec: Dict[str, Any], text: str) -> Any:
    kind = spec["type"].split(":", 1)[0]
    if kind in ("INT", "UINT"):
        return int(text)
    if kind == "FLOAT":
        return float(text)
    return text


def option_default(command: str, name: str) -> Any:
    """The default of `orchard COMMAND --NAME`: the flag's own (shown by --help), else the
    jobs' (JOB_DEFAULTS, e.g. threads=0: every core), else False for a switch and None for
    an option the command line leaves unset (train's `c`: chosen on the validation split)."""
    spec = COMMANDS[command][name]
    if spec["default"] is not None:
        return _typed(spec, spec["default"])
    if name in _native.JOB_DEFAULTS:
        return _native.JOB_DEFAULTS[name]
    return None if spec["takes_value"] else False


def command_arguments(command: str, options: Dict[str, Any]) -> List[str]:
    """The command line of `command` with these keyword options: ["run", "--input=...", ...].
    Options at their default are left out; True switches become the flag; positional
    values come last, after "--" (a value may start with '-')."""
    specs = COMMANDS[command]
    args = [command]
    positional: List[str] = []
    for name, value in options.items():
        spec = specs.get(name)
        if spec is None or name in _NOT_KEYWORDS:
            raise TypeError(f"orchard.{command.replace('-', '_')}() has no option '{name}'")
        if value is None or (not spec["positional"] and value == option_default(command, name)):
            continue
        if not spec["takes_value"]:
            if not isinstance(value, bool):
                raise TypeError(f"{name} is a switch: pass True or False, not {value!r}")
            args.append(spec["flag"])
            continue
        values = list(value) if spec["multiple"] and not isinstance(value, (str, bytes)) else [value]
        if spec["positional"]:
            positional += [os.fspath(item) if isinstance(item, os.PathLike) else str(item)
                           for item in values]
            continue
        for item in values:
            if isinstance(item, os.PathLike):
                item = os.fspath(item)
            elif isinstance(item, bool):
                raise TypeError(f"{name} takes a value, not {item!r}")
            args.append(f"{spec['flag']}={item}")
    if positional:
        args += ["--", *positional]
    return args


def _shipped_model() -> str:
    from orchard import shipped_model_path

    return shipped_model_path()


def _run(command: str, progress: Optional[bool], options: Dict[str, Any]) -> Summary:
    args = command_arguments(command, options)
    exit_code, kind, message, summary_text = _native.run_command(args, _shipped_model(),
                                                                 progress)
    summary = json.loads(summary_text) if summary_text else None
    if exit_code != 0:
        raise error_for(kind, message, exit_code, summary)
    return Summary.from_json(summary or {}, command)


def _job(command: str):
    """The body of a job function: its arguments (but `progress`) become the options."""

    def wrap(function):
        signature = _inspect.signature(function)

        @functools.wraps(function)
        def run_job(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            options = dict(bound.arguments)
            progress = options.pop("progress", False)
            return _run(command, bool(progress), options)

        return run_job

    return wrap


def _d(command: str, name: str) -> Any:
    return option_default(command, name)


# ------------------------------------------------------------------ jobs
@_job("run")
def run(input: PathLike, output: PathLike, *, model: str = _d("run", "model"),
        model_sha256: str = _d("run", "model_sha256"),
        output_name: str = _d("run", "output_name"),
        batch_size: int = _d("run", "batch_size"), io_threads: int = _d("run", "io_threads"),
        rows_per_part: int = _d("run", "rows_per_part"),
        max_pixels: int = _d("run", "max_pixels"),
        max_file_bytes: int = _d("run", "max_file_bytes"),
        path_glob: str = _d("run", "path_glob"), label_from: str = _d("run", "label_from"),
        pca_variance: float = _d("run", "pca_variance"), pca_k: int = _d("run", "pca_k"),
        threads: int = _d("run", "threads"), overwrite: bool = False, resume: bool = False,
        update: bool = False,
        endpoint_url: str = _d("run", "endpoint_url"), region: str = _d("run", "region"),
        virtual_addressing: bool = False, progress: bool = False) -> Summary:
    """`orchard run`: featurize the images of `input` (one sub-folder per label, a manifest
    or tar shards; `label_from` for shards: folder, cls, txt, json:KEY), fit PCA,
    project, write the report, publish `output` (folder or s3:// prefix).

    Options are `orchard run --help`'s (`update=True`: bring a finished output up to date
    with its changed input, featurizing only new, changed and failed-to-read images);
    `progress=True` draws the progress line on stderr
    (a notebook shows it under the cell). Returns the run summary; raises UsageError,
    InputError, StorageError, ResourceError or Interrupted (Ctrl-C) with the command
    line's message."""
    raise AssertionError("replaced by @_job")


@_job("featurize")
def featurize(input: PathLike, output: PathLike, *, model: str = _d("featurize", "model"),
              model_sha256: str = _d("featurize", "model_sha256"),
              output_name: str = _d("featurize", "output_name"),
              batch_size: int = _d("featurize", "batch_size"),
              io_threads: int = _d("featurize", "io_threads"),
              rows_per_part: int = _d("featurize", "rows_per_part"),
              max_pixels: int = _d("featurize", "max_pixels"),
              max_file_bytes: int = _d("featurize", "max_file_bytes"),
              path_glob: str = _d("featurize", "path_glob"),
              label_from: str = _d("featurize", "label_from"),
              threads: int = _d("featurize", "threads"), overwrite: bool = False,
              resume: bool = False, update: bool = False,
              endpoint_url: str = _d("featurize", "endpoint_url"),
              region: str = _d("featurize", "region"), virtual_addressing: bool = False,
              progress: bool = False) -> Summary:
    """`orchard featurize`: images -> the features and errors tables of `output` (no PCA).
    Options as `run`'s."""
    raise AssertionError("replaced by @_job")


@_job("fit-pca")
def fit_pca(output: PathLike, *, pca_variance: float = _d("fit-pca", "pca_variance"),
            pca_k: int = _d("fit-pca", "pca_k"), threads: int = _d("fit-pca", "threads"),
            endpoint_url: str = _d("fit-pca", "endpoint_url"),
            region: str = _d("fit-pca", "region"), virtual_addressing: bool = False,
            progress: bool = False) -> Summary:
    """`orchard fit-pca`: fit PCA on OUTPUT/features; writes pca_model/ and the scree plot."""
    raise AssertionError("replaced by @_job")


@_job("project")
def project(output: PathLike, *, threads: int = _d("project", "threads"),
            endpoint_url: str = _d("project", "endpoint_url"),
            region: str = _d("project", "region"), virtual_addressing: bool = False,
            progress: bool = False) -> Summary:
    """`orchard project`: project OUTPUT/features with OUTPUT/pca_model into OUTPUT/pca."""
    raise AssertionError("replaced by @_job")


@_job("train")
def train(input: PathLike, output: PathLike, *, on: str = _d("train", "on"),
          validation_split: float = _d("train", "validation_split"),
          seed: int = _d("train", "seed"), c: Optional[float] = _d("train", "c"),
          max_iterations: int = _d("train", "max_iterations"),
          tolerance: float = _d("train", "tolerance"), threads: int = _d("train", "threads"),
          overwrite: bool = False, endpoint_url: str = _d("train", "endpoint_url"),
          region: str = _d("train", "region"), virtual_addressing: bool = False,
          progress: bool = False) -> Summary:
    """`orchard train`: a softmax classifier on the features (or pca) of an earlier run
    `input`, written to the model folder `output`. The summary is MODEL/metrics.json
    (summary.training: rows, classes, C, validation accuracy, ...)."""
    raise AssertionError("replaced by @_job")


@_job("predict")
def predict(model: PathLike, input: Optional[PathLike] = None,
            output: Optional[PathLike] = None, *, files: Optional[Sequence[PathLike]] = None,
            backbone: str = _d("predict", "backbone"),
            output_name: str = _d("predict", "output_name"),
            batch_size: int = _d("predict", "batch_size"),
            rows_per_part: int = _d("predict", "rows_per_part"),
            max_pixels: int = _d("predict", "max_pixels"),
            max_file_bytes: int = _d("predict", "max_file_bytes"),
            top: int = _d("predict", "top"), knn: Optional[PathLike] = _d("predict", "knn"),
            knn_neighbours: int = _d("predict", "knn_neighbours"),
            threads: int = _d("predict", "threads"),
            overwrite: bool = False, endpoint_url: str = _d("predict", "endpoint_url"),
            region: str = _d("predict", "region"), virtual_addressing: bool = False,
            progress: bool = False) -> Summary:
    """`orchard predict`: classify the images (or an earlier output's rows) of `input` into
    `output` with the classifier folder `model`; or, with `files=[...]`, the top `top`
    classes of each file: summary["predictions"] (a list, one entry per file, with "top"
    or "error"). When some files fail, InputError is raised and its `.summary` still holds
    every file's entry. With `knn=INDEX_DIR` (and `model=None`) the rows of the earlier
    output `input` are labelled by a vote of their `knn_neighbours` nearest index rows."""
    raise AssertionError("replaced by @_job")


@_job("index")
def index(input: PathLike, output: PathLike, *, on: str = _d("index", "on"),
          kind: str = _d("index", "kind"), max_memory: Optional[str] = _d("index", "max_memory"),
          threads: int = _d("index", "threads"), overwrite: bool = False,
          endpoint_url: str = _d("index", "endpoint_url"), region: str = _d("index", "region"),
          virtual_addressing: bool = False, progress: bool = False) -> Summary:
    """`orchard index`: a nearest-neighbour index of the pca (or features) vectors of the
    earlier output `input`, written to the folder `output`. The summary is
    INDEX_DIR/metrics.json (kind, bytes_per_vector, recall_at_10, seconds, ...)."""
    raise AssertionError("replaced by @_job")


@_job("search")
def search(index: PathLike, input: Optional[PathLike] = None,
           output: Optional[PathLike] = None, *, files: Optional[Sequence[PathLike]] = None,
           neighbours: int = _d("search", "neighbours"),
           backbone: str = _d("search", "backbone"),
           max_file_bytes: int = _d("search", "max_file_bytes"),
           threads: int = _d("search", "threads"), overwrite: bool = False,
           endpoint_url: str = _d("search", "endpoint_url"),
           region: str = _d("search", "region"), virtual_addressing: bool = False,
           progress: bool = False) -> Summary:
    """`orchard search`: the `neighbours` nearest rows of the index folder `index` for each
    row of the earlier output `input` (written to `output`/neighbours.parquet), or, with
    `files=[...]`, for each photo: summary["results"] (one entry per file, with
    "neighbours" or "error"). When some files fail, InputError is raised."""
    raise AssertionError("replaced by @_job")


@_job("dedup")
def dedup(input: PathLike, output: PathLike, *, against: Optional[PathLike] = None,
          on: str = _d("dedup", "on"), threshold: float = _d("dedup", "threshold"),
          neighbours: int = _d("dedup", "neighbours"), kind: str = _d("dedup", "kind"),
          max_memory: Optional[str] = _d("dedup", "max_memory"),
          threads: int = _d("dedup", "threads"), overwrite: bool = False,
          endpoint_url: str = _d("dedup", "endpoint_url"), region: str = _d("dedup", "region"),
          virtual_addressing: bool = False, progress: bool = False) -> Summary:
    """`orchard dedup`: groups of near-duplicates of the earlier output `input`
    (`output`/duplicates.parquet), or with `against` the rows of `input` with a near-copy in
    that other output (`output`/matches.parquet)."""
    raise AssertionError("replaced by @_job")


@_job("inspect")
def inspect(output: PathLike, *, endpoint_url: str = _d("inspect", "endpoint_url"),
            region: str = _d("inspect", "region"), virtual_addressing: bool = False) -> Summary:
    """`orchard inspect`: the schema, row counts and PCA summary of an output (the report
    in summary.raw)."""
    raise AssertionError("replaced by @_job")


@_job("pack")
def pack(input: PathLike, output: PathLike, *,
         samples_per_shard: int = _d("pack", "samples_per_shard"),
         max_file_bytes: int = _d("pack", "max_file_bytes"),
         endpoint_url: str = _d("pack", "endpoint_url"), region: str = _d("pack", "region"),
         virtual_addressing: bool = False) -> Summary:
    """`orchard pack`: the images of `input` as WebDataset tar shards in the empty folder
    `output` (KEY.ext, KEY.cls, KEY.json per image). summary["samples"], ["shards"],
    ["skipped"]."""
    raise AssertionError("replaced by @_job")


# ------------------------------------------------------------------ in memory
_EMBEDDERS: Dict[tuple, Any] = {}
_EMBEDDERS_LOCK = threading.Lock()


def _embedder(model: str, output_name: str, threads: int):
    options = _native.resolve_job_options({"model": model, "shipped_model": _shipped_model(),
                                           "output_name": output_name, "threads": threads})
    key = (options["model"], options["model_sha256"], output_name, options["threads"])
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = _native.Embedder(
                _native.read_file(options["model"]), output_name=output_name,
                threads=options["threads"], expected_sha256=options["model_sha256"])
        return _EMBEDDERS[key]


def _bmp(pixels: np.ndarray) -> bytes:
    """A 24-bit BMP of an H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA) uint8 array:
    lossless, so the decoder sees exactly these pixels (no PIL needed)."""
    if pixels.dtype != np.uint8:
        raise TypeError(f"image arrays must be uint8, not {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or 0 in pixels.shape[:2]:
        raise ValueError(f"an image array is H x W, H x W x 3 or H x W x 4, not {pixels.shape}")
    height, width = pixels.shape[:2]
    rows = pixels[::-1, :, 2::-1]  # bottom-up, BGR
    stride = (width * 3 + 3) & ~3
    padded = np.zeros((height, stride), np.uint8)
    padded[:, :width * 3] = rows.reshape(height, width * 3)
    header = struct.pack("<2sIHHI", b"BM", 54 + padded.size, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, padded.size, 2835, 2835, 0, 0)
    return header + info + padded.tobytes()


def _image_bytes(image: Any) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        return _native.read_file(os.fspath(image))
    if isinstance(image, np.ndarray):
        return _bmp(image)
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        return _bmp(np.asarray(image.convert("RGB")))
    raise TypeError(f"cannot embed a {type(image).__name__}: give a path, bytes, a PIL image "
                    "or a uint8 numpy array")


def embed(images: Union[Any, Iterable[Any]], *, model: str = _d("run", "model"),
          output_name: str = _d("run", "output_name"), threads: int = _d("run", "threads"),
          errors: str = "raise") -> np.ndarray:
    """The embedding of each image: float32 [n, dim] (1280 for the shipped MobileNetV2),
    as `orchard run` computes it (same decoder, preprocessing and model).

    `images`: one or a list of paths (local or s3://), encoded bytes (JPEG, PNG, BMP, ...),
    PIL images or uint8 numpy arrays (H x W, H x W x 3 RGB, H x W x 4). `model`: as run's
    (default: $ORCHARD_MODEL, else the shipped model, checked). A file that cannot be read
    or decoded raises InputError naming it (`errors="raise"`), or gives a row of NaN
    (`errors="nan"`), so the other rows are kept."""
    if errors not in ("raise", "nan"):
        raise ValueError("errors is 'raise' or 'nan'")
    single = isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike, np.ndarray)) \
        or (hasattr(images, "convert") and hasattr(images, "size"))
    items = [images] if single else list(images)
    encoded, failures = [], {}
    for index, image in enumerate(items):
        try:
            encoded.append(_image_bytes(image))
        except _native.OrchardError as error:  # an unreadable path: an error row
            failures[index] = ("read", str(error))
            encoded.append(b"")
    embedder = _embedder(model, output_name, threads)
    features, ok, bad = embedder.embed(encoded)
    for index, stage, message in bad:
        failures.setdefault(int(index), (stage, message))
    if failures and errors == "raise":
        first = sorted(failures.items())[:3]
        listed = "; ".join(f"image {index}: {stage}: {message}" for index, (stage, message) in first)
        raise InputError(f"{len(failures)} of {len(items)} images could not be embedded ({listed})")
    if len(ok) == len(items):
        return np.asarray(features)
    out = np.full((len(items), embedder.dim), np.nan, np.float32)
    if len(ok):
        out[np.asarray(ok)] = features
    return out


def read(output: PathLike, *, endpoint_url: str = "", region: str = "") -> Dict[str, Any]:
    """The tables of a finished output as pyarrow Tables: {"features", "errors", "pca",
    "predictions"}, those it has. Refuses an unfinished output (no _SUCCESS: still running,
    interrupted or not an orchard output) with InputError."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    uri = os.fspath(output)
    if not _native.exists(f"{uri.rstrip('/')}/_SUCCESS", endpoint_url, region):
        raise InputError(f"'{uri}' is not a finished orchard output (no _SUCCESS): run a job "
                         "into it first, or re-run the interrupted one with resume=True")
    if uri.startswith("s3://"):
        options = {"endpoint_override": endpoint_url or os.environ.get("AWS_ENDPOINT_URL")}
        if region:
            options["region"] = region
        filesystem = pafs.S3FileSystem(**{k: v for k, v in options.items() if v})
        root = uri[len("s3://"):].rstrip("/")
    else:
        filesystem, root = pafs.LocalFileSystem(), os.path.abspath(uri)
    tables = {}
    for name in (_native.FEATURES_DIR, _native.ERRORS_DIR, _native.PCA_DIR, "predictions"):
        folder = f"{root}/{name}"
        if filesystem.get_file_info(folder).type == pafs.FileType.Directory:
            tables[name] = pq.read_table(folder, filesystem=filesystem)
    return tables


__all__ = ["COMMANDS", "dedup", "embed", "featurize", "fit_pca", "index", "inspect",
           "option_default", "predict", "project", "read", "run", "search", "train"]
