"""orchard: the orchard C++ engine from Python (and Spark, see orchard.spark).

    import orchard
    summary = orchard.run("photos/", "out/")          # the `orchard run` command
    tables = orchard.read("out/")                     # {"features": pyarrow.Table, ...}
    vectors = orchard.embed(["a.jpg", "b.png"])       # float32 [2, 1280]

The job functions (run, featurize, fit_pca, project, train, predict, inspect) run the
command line's own code with its flags as keyword options; see docs/python.md. The
`orchard` command of the wheel is the same command line (python -m orchard).

The native extension links Arrow (from the pyarrow wheel) and ONNX Runtime (from the
onnxruntime wheel). Both are loaded here first, so that the extension's NEEDED entries
(libarrow.so.<ver>, libonnxruntime.so.1) are satisfied by soname whatever the rpath.
"""
import ctypes
import glob
import os

import pyarrow  # noqa: F401  (loads libarrow / libparquet)


def _load_onnxruntime():
    import importlib.util

    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("orchard needs the onnxruntime wheel (pip install onnxruntime)")
    capi = os.path.join(list(spec.submodule_search_locations)[0], "capi")
    # The wheel ships capi/libonnxruntime.so.<version> (soname libonnxruntime.so.1).
    candidates = sorted(glob.glob(os.path.join(capi, "libonnxruntime.so.*")))
    if not candidates:
        raise ImportError(f"no libonnxruntime.so.* in {capi}")
    ctypes.CDLL(candidates[-1], mode=ctypes.RTLD_GLOBAL)


_load_onnxruntime()

from orchard._native import (  # noqa: E402
    DEFAULT_MODEL_SHA256,
    JOB_DEFAULTS,
    Embedder,
    OrchardError,
    __version__,
    merge_stats,
    pca_stats,
    scree_svg,
)
from orchard.errors import (  # noqa: E402
    InputError,
    Interrupted,
    ResourceError,
    StorageError,
    UsageError,
)
from orchard.summary import ImageCounts, ModelInfo, PcaInfo, Summary  # noqa: E402
from orchard.api import (  # noqa: E402
    dedup,
    embed,
    featurize,
    fit_pca,
    index,
    inspect,
    pack,
    predict,
    project,
    read,
    run,
    search,
    train,
)

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def shipped_model_path():
    """The shipped MobileNetV2: the one inside the wheel, else the repository's models/
    folder (in-tree builds); "" when neither is there. The jobs use it when no model is
    given and ORCHARD_MODEL is unset, and check its sha256 (jobs::ResolveJobOptions)."""
    for candidate in (
        os.path.join(_PACKAGE_DIR, "models", "mobilenet_v2_imagenet.onnx"),
        os.path.join(_PACKAGE_DIR, "..", "..", "models", "mobilenet_v2_imagenet.onnx"),
    ):
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    return ""


def default_model_path():
    """The model a job uses when none is given: ORCHARD_MODEL, else the shipped one."""
    if os.environ.get("ORCHARD_MODEL"):
        return os.environ["ORCHARD_MODEL"]
    shipped = shipped_model_path()
    if not shipped:
        raise FileNotFoundError("no default model found: pass --model")
    return shipped


__all__ = [
    "DEFAULT_MODEL_SHA256",
    "JOB_DEFAULTS",
    "Embedder",
    "ImageCounts",
    "InputError",
    "Interrupted",
    "ModelInfo",
    "OrchardError",
    "PcaInfo",
    "ResourceError",
    "StorageError",
    "Summary",
    "UsageError",
    "__version__",
    "dedup",
    "default_model_path",
    "embed",
    "featurize",
    "fit_pca",
    "index",
    "inspect",
    "merge_stats",
    "pack",
    "pca_stats",
    "predict",
    "project",
    "read",
    "run",
    "scree_svg",
    "search",
    "shipped_model_path",
    "train",
]
