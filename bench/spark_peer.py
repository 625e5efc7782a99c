#!/usr/bin/env python3
"""The Spark peers of orchard (issue 5): the same job written the PySpark way.

  --peer keras : (a) the reference implementation as the well-known course teaches it:
                 binaryFile read (recursive) -> label from the path -> pandas UDF (iterator
                 of Series) that builds Keras MobileNetV2(include_top=False, pooling='avg')
                 in each task from weights broadcast by the driver, PIL decode + resize,
                 preprocess_input, model.predict -> features Parquet -> Vectors.dense UDF ->
                 Spark ML PCA -> Parquet. Keras' ImageNet weights cannot be downloaded here:
                 the model has its random initial weights (same cost per image).
  --peer onnx  : (b) what a Python team would write today: the same job with ONNX Runtime
                 on orchard's ONNX model (model bytes broadcast, one InferenceSession per
                 Python worker, intra_op threads = spark.task.cpus), PIL decode + resize,
                 numpy preprocessing, array_to_vector -> Spark ML PCA -> Parquet.

Prints one JSON line with the phase timings (seconds, measured in the driver):
  session   : SparkSession start (JVM launch) + broadcast of the weights/model
  featurize : read + decode + embed + write the features Parquet (one Spark job)
  pca       : read the features back, to vectors, PCA fit (k fixed) + transform + write
Usage: spark_peer.py --peer keras|onnx -i DIR -o OUT [--cores 2] [--batch-size 32]
                     [--pca-k K | --pca-variance 0.99] [--partitions P]
"""
import argparse
import json
import os
import sys
import time

T_START = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", choices=["keras", "onnx"], required=True)
    parser.add_argument("-i", "--input", required=True)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pca-k", type=int)
    parser.add_argument("--pca-variance", type=float, default=0.99)
    parser.add_argument("--partitions", type=int, default=20, help="repartition(P) before the UDF, as the course does")
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "mobilenet_v2_imagenet.onnx"))
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, element_at, pandas_udf, split, udf
    from pyspark.sql.types import ArrayType, FloatType

    timings = {}
    t = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName(f"orchard-peer-{args.peer}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "1024")
        .config("spark.sql.parquet.compression.codec", "snappy")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    sc.addPyFile(os.path.join(HERE, "spark_udfs.py"))
    import spark_udfs  # noqa: E402  (shipped to the workers above)

    batch_size = args.batch_size
    if args.peer == "keras":
        # The driver builds the model once and broadcasts its weights (course pattern).
        from tensorflow.keras.applications.mobilenet_v2 import MobileNetV2

        model = MobileNetV2(include_top=False, pooling="avg", input_shape=(224, 224, 3), weights=None)
        bc_weights = sc.broadcast(model.get_weights())
        del model

        def featurize(content_series_iter):
            return spark_udfs.keras_featurize(content_series_iter, bc_weights, batch_size)

    else:
        with open(args.model, "rb") as f:
            bc_model = sc.broadcast(f.read())
        task_cpus = int(sc.getConf().get("spark.task.cpus", "1"))

        def featurize(content_series_iter):
            return spark_udfs.onnx_featurize(content_series_iter, bc_model, batch_size, task_cpus)

    # pandas_udf picks the iterator-of-Series form from the type hints.
    from typing import Iterator

    import pandas as pd

    featurize.__annotations__ = {"content_series_iter": Iterator[pd.Series], "return": Iterator[pd.Series]}
    featurize_udf = pandas_udf(featurize, returnType=ArrayType(FloatType()))
    timings["session"] = time.perf_counter() - t

    # ---- featurize: one Spark job, read -> UDF -> features Parquet
    t = time.perf_counter()
    images = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.jpg")
        .option("recursiveFileLookup", "true")
        .load(args.input)
    )
    images = images.withColumn("label", element_at(split(col("path"), "/"), -2))
    features = images.repartition(args.partitions).select(
        col("path"), col("label"), featurize_udf(col("content")).alias("features")
    )
    features_path = os.path.join(args.output, "features")
    features.write.mode("overwrite").parquet(features_path)
    timings["featurize"] = time.perf_counter() - t

    # ---- PCA: read back, to vectors, fit, transform, write
    t = time.perf_counter()
    from pyspark.ml.feature import PCA

    df = spark.read.parquet(features_path)
    if args.peer == "keras":
        from pyspark.ml.linalg import Vectors, VectorUDT

        to_vector = udf(lambda x: Vectors.dense(x), VectorUDT())  # the course's way
        df = df.withColumn("features_vec", to_vector(col("features")))
    else:
        from pyspark.ml.functions import array_to_vector

        df = df.withColumn("features_vec", array_to_vector(col("features")))
    df = df.cache()
    n = df.count()
    k = args.pca_k
    if k is None:
        # ~99 % variance: fit with every component, pick k, fit again (the course's way).
        full = PCA(k=min(n, 1280), inputCol="features_vec", outputCol="pca").fit(df)
        cumulative, k = 0.0, 0
        for share in full.explainedVariance.toArray():
            cumulative += share
            k += 1
            if cumulative >= args.pca_variance:
                break
    pca_model = PCA(k=k, inputCol="features_vec", outputCol="pca_features").fit(df)
    explained = float(sum(pca_model.explainedVariance.toArray()))
    pca_model.transform(df).select("path", "label", "pca_features").write.mode("overwrite").parquet(
        os.path.join(args.output, "pca")
    )
    timings["pca"] = time.perf_counter() - t
    spark.stop()
    timings["driver_total"] = time.perf_counter() - T_START
    print(
        json.dumps(
            {
                "peer": args.peer,
                "images": n,
                "cores": args.cores,
                "batch_size": batch_size,
                "partitions": args.partitions,
                "pca_k": k,
                "pca_explained": explained,
                "seconds": timings,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
