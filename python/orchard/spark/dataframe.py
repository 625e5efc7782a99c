"""featurize_dataframe(): for users who already hold images in a DataFrame (a binary
`content` column): the CLI's decode, preprocessing and model, through mapInArrow."""
import numpy as np
import pyarrow as pa

import orchard
from orchard import _native
from orchard.spark.tasks import embedder_for

DEFAULTS = _native.JOB_DEFAULTS


def _vector_column(matrix):
    """float32 [n, d] -> list<float32> without copying the values."""
    n, d = matrix.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if n else np.zeros(1, np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(matrix).reshape(-1)))


FEATURIZED_SCHEMA = "path string, features array<float>, stage string, message string"


def _featurize_batches(batches, model_broadcast, options, path_column, content_column):
    embedder = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if embedder is None:
            embedder = embedder_for(model_broadcast, options)
        paths = batch.column(path_column)
        contents = batch.column(content_column).to_pylist()
        features, ok, errors = embedder.embed(contents)
        del contents
        order = ok.tolist() + [index for index, _, _ in errors]
        vectors = _vector_column(features)
        if errors:
            vectors = pa.concat_arrays([vectors, pa.nulls(len(errors), vectors.type)])
        yield pa.RecordBatch.from_arrays(
            [paths.take(pa.array(order, pa.int64())), vectors,
             pa.array([None] * len(ok) + [stage for _, stage, _ in errors], pa.string()),
             pa.array([None] * len(ok) + [message for _, _, message in errors], pa.string())],
            names=["path", "features", "stage", "message"])


def featurize_dataframe(df, model_bytes=None, path_column="path", content_column="content",
                        batch_size=DEFAULTS["batch_size"], max_pixels=DEFAULTS["max_pixels"],
                        output_name=DEFAULTS["output_name"]):
    """(path, content binary) rows -> (path, features array<float>, stage, message), with
    the CLI's decode, preprocessing and model. A bad image gives a row with null features
    and the stage/message the CLI would write to its errors table."""
    spark = df.sparkSession
    if model_bytes is None:
        with open(orchard.default_model_path(), "rb") as file:
            model_bytes = file.read()
    sha256 = orchard.Embedder(model_bytes, output_name=output_name, threads=1).sha256
    broadcast = spark.sparkContext.broadcast(model_bytes)
    options = {"output_name": output_name, "threads": 1, "expected_sha256": sha256,
               "batch_size": batch_size, "decode_threads": 1, "max_pixels": max_pixels,
               "model_name": "model"}
    return df.select(path_column, content_column).mapInArrow(
        lambda batches: _featurize_batches(batches, broadcast, options, path_column,
                                           content_column), FEATURIZED_SCHEMA)
