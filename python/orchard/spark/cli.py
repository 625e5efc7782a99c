"""The Spark job's command line: the CLI's flags, with the CLI's defaults read from the
C++ job options (orchard._native.JOB_DEFAULTS), never restated here."""
import argparse

from orchard import _native

DEFAULTS = _native.JOB_DEFAULTS


def add_featurize_arguments(parser):
    """How images become features: the flags of both Spark jobs, with the CLI's defaults."""
    parser.add_argument("--output-name", default=DEFAULTS["output_name"],
                        help="model output holding the embedding")
    parser.add_argument("-b", "--batch-size", type=int, default=DEFAULTS["batch_size"],
                        help="images per inference call")
    parser.add_argument("--rows-per-part", type=int, default=DEFAULTS["rows_per_part"],
                        help="rows per output part file (as the CLI)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULTS["max_pixels"],
                        help="reject images that declare more pixels than this")
    parser.add_argument("--max-file-bytes", type=int, default=DEFAULTS["max_file_bytes"],
                        help="files larger than this are error rows, never read")
    parser.add_argument("--partitions", "--shards", dest="shards", type=int, default=0,
                        help="split the work into N tasks (default: 4 per task the cluster "
                             "can run at once, from its maximum executors; see docs/spark.md)")


def add_cluster_arguments(parser):
    """Where the object store and Spark are: the flags of both Spark jobs."""
    parser.add_argument("--endpoint-url", default="",
                        help="S3-compatible endpoint (default: fs.s3a.endpoint, AWS_ENDPOINT_URL)")
    parser.add_argument("--region", default="", help="object-store region")
    parser.add_argument("--master", default=None,
                        help="Spark master when not run through spark-submit (e.g. local[2])")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="Spark property for the session (repeatable), like spark-submit's "
                             "--conf; never put credentials here")


def check_shared_arguments(parser, args):
    """Refuses bad values of the flags add_featurize_arguments and add_cluster_arguments add."""
    for item in args.conf:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--conf expects KEY=VALUE, got {item!r}")
    if min(args.batch_size, args.rows_per_part, args.max_file_bytes) < 1 or args.shards < 0:
        parser.error("--batch-size, --rows-per-part and --max-file-bytes must be >= 1, "
                     "--shards >= 0")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m orchard.spark",
        description="orchard on Spark: labelled images -> CNN features -> PCA -> Parquet")
    parser.add_argument("-i", "--input", required=True,
                        help="input folder or URI (s3://, s3a://), one sub-folder per label")
    parser.add_argument("-o", "--output", required=True, help="output folder or URI")
    parser.add_argument("-m", "--model", default=None,
                        help="ONNX model, local path or URI (default: the shipped MobileNetV2)")
    parser.add_argument("--model-sha256", default="",
                        help="refuse the model unless its sha256 matches (checked by default "
                             "for the shipped model)")
    add_featurize_arguments(parser)
    parser.add_argument("--rows-per-batch", type=int, default=128,
                        help="images per Arrow batch of featurize_dataframe() (the batch job "
                             "reads files natively and does not use it)")
    parser.add_argument("--pca-variance", type=float, default=DEFAULTS["pca_variance"],
                        help="keep the fewest components explaining this share of variance")
    parser.add_argument("--pca-k", type=int, default=DEFAULTS["pca_k"],
                        help="keep exactly k components")
    parser.add_argument("--path-glob", default=None,
                        help="only files whose name matches this glob")
    # run only, as in the CLI (predict labels by folder)
    parser.add_argument("--label-from", default=DEFAULTS["label_from"],
                        help="tar shards: a sample's label from its shard's folder, its "
                             ".cls/.txt member or a key of its .json member "
                             "(folder, cls, txt, json:KEY)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace an existing output")
    existing.add_argument("--resume", action="store_true",
                          help="continue an interrupted run of the same job: only the parts "
                               "not yet written are computed")
    existing.add_argument("--update", action="store_true",
                          help="bring a finished output up to date with its changed input: "
                               "only new, changed and failed-to-read images are featurized")
    add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    check_shared_arguments(parser, args)
    if min(args.batch_size, args.rows_per_batch, args.rows_per_part) < 1 or \
            args.shards < 0 or args.pca_k < 0:
        parser.error("--batch-size, --rows-per-batch and --rows-per-part must be >= 1, "
                     "--shards and --pca-k >= 0")
    if not 0 < args.pca_variance <= 1:
        parser.error("--pca-variance must be in (0, 1]")
    return args
