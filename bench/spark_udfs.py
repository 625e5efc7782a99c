"""Executor-side code of the Spark peers (shipped to the workers with addPyFile).

Kept in an importable module (not __main__) so that cloudpickle sends these functions by
reference: the module is imported once per Python worker process, and its globals (the
ONNX Runtime session of peer (b)) live as long as the worker (spark.python.worker.reuse,
on by default).
"""
import io
import os
from typing import Iterator

import numpy as np
import pandas as pd
from PIL import Image

# ----------------------------------------------------------------------------------------
# (a) the reference implementation, as the course teaches it: TensorFlow/Keras MobileNetV2
#     built in each task from broadcast weights, PIL decode + resize, preprocess_input,
#     model.predict per Arrow batch.


def keras_model_fn(broadcast_weights):
    """Builds MobileNetV2 (no top, global average pool: the 1280-d embedding) and sets the
    weights broadcast from the driver."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow.keras.applications.mobilenet_v2 import MobileNetV2

    model = MobileNetV2(include_top=False, pooling="avg", input_shape=(224, 224, 3), weights=None)
    model.set_weights(broadcast_weights.value)
    return model


def keras_preprocess(content):
    from tensorflow.keras.applications.mobilenet_v2 import preprocess_input
    from tensorflow.keras.utils import img_to_array

    img = Image.open(io.BytesIO(content)).convert("RGB").resize([224, 224])
    return preprocess_input(img_to_array(img))


def keras_featurize_series(model, content_series, batch_size):
    batch = np.stack(content_series.map(keras_preprocess))
    preds = model.predict(batch, batch_size=batch_size, verbose=0)
    return pd.Series([p.flatten() for p in preds])


def keras_featurize(content_series_iter: Iterator[pd.Series], broadcast_weights, batch_size):
    # Iterator-of-Series pandas UDF: the model is built once per task (partition), then
    # used for every Arrow batch of that partition.
    model = keras_model_fn(broadcast_weights)
    for content_series in content_series_iter:
        yield keras_featurize_series(model, content_series, batch_size)


# ----------------------------------------------------------------------------------------
# (b) what a Python team would write today: ONNX Runtime on orchard's ONNX model, one
#     InferenceSession per Python worker process, PIL decode + resize, numpy preprocessing.

_SESSION = None


def onnx_session(broadcast_model, threads):
    global _SESSION
    if _SESSION is None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        _SESSION = ort.InferenceSession(
            broadcast_model.value, options, providers=["CPUExecutionProvider"]
        )
    return _SESSION


def onnx_preprocess(content):
    img = Image.open(io.BytesIO(content)).convert("RGB").resize((224, 224), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)  # HWC, RGB
    return (arr / 127.5 - 1.0).transpose(2, 0, 1)  # CHW, x/127.5 - 1


def onnx_featurize(content_series_iter: Iterator[pd.Series], broadcast_model, batch_size, threads):
    session = onnx_session(broadcast_model, threads)
    for content_series in content_series_iter:
        out = []
        contents = content_series.tolist()
        for start in range(0, len(contents), batch_size):
            batch = np.stack([onnx_preprocess(c) for c in contents[start : start + batch_size]])
            (features,) = session.run(["features"], {"images": batch})
            out.extend(features)
        yield pd.Series(out)
