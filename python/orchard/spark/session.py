"""The driver's Spark session: start it as the job asks, stop it, turn failures and
signals into one line and an exit code (as the CLI's), and where object stores are."""
import os
import signal
import sys
import threading

import orchard


def log(message):
    print(f"orchard.spark: {message}", file=sys.stderr, flush=True)


def storage_options(spark, args):
    """Endpoint and region for object stores: the flags, else the S3A settings of the
    session (so one --conf serves Spark's own S3A reads and the engine), else the AWS
    defaults (environment, instance role)."""
    conf = spark.sparkContext.getConf()
    endpoint = args.endpoint_url or conf.get("spark.hadoop.fs.s3a.endpoint", "")
    region = args.region or conf.get("spark.hadoop.fs.s3a.endpoint.region", "")
    return {"endpoint_url": endpoint, "region": region}


def local_cores(master):
    """N for local[N] / local[N,F]; the machine's cores for local[*]; None otherwise."""
    if not master or not master.startswith("local"):
        return None
    inside = master[len("local"):].strip("[]").split(",")[0]
    if inside in ("", "*"):
        return os.cpu_count() or 1
    return int(inside) if inside.isdigit() else None


EXIT_INTERRUPTED = 130  # as the CLI: 128 + SIGINT


class JobInterrupted(Exception):
    """SIGINT or SIGTERM reached the driver (see install_interrupt_handlers)."""


_SIGNALS_RECEIVED = []  # names of the signals the handler saw (the driver's main thread)


def check_interrupted():
    """Raises JobInterrupted once a signal came: called between the job's steps, so that a
    signal that arrived while no Spark job ran still stops the run before it publishes."""
    if _SIGNALS_RECEIVED:
        raise JobInterrupted(_SIGNALS_RECEIVED[0])


def install_interrupt_handlers(sc):
    """SIGINT/SIGTERM (Ctrl-C, `timeout`, a scheduler) -> cancel every Spark job and stop.
    The handler only records the signal and asks Spark, from another thread, to cancel the
    running jobs: the main thread is usually inside a py4j call waiting for a job, and an
    exception raised there would leave the py4j connection out of step (the next call, even
    spark.stop(), then fails). The cancelled job returns its error to the main thread, and
    run_in_session turns whatever surfaces after a signal into JobInterrupted; between jobs,
    check_interrupted() stops the run. A second signal acts as usual (ends the process)."""
    def cancel():
        try:
            sc.cancelAllJobs()
        except Exception:  # noqa: BLE001 - the session may already be going down
            pass

    def handler(signum, _frame):
        _SIGNALS_RECEIVED.append(signal.Signals(signum).name)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        threading.Thread(target=cancel, name="orchard-cancel", daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, handler)


def run_in_session(app_name, args, job):
    """Starts the Spark session (args.master, args.conf), runs job(spark, args) and stops
    it; -> (exit code, what job returned). Failures become one line on stderr: the engine's
    message, or the Python error of a task that failed for good, without the JVM trace."""
    from py4j.protocol import Py4JJavaError
    from pyspark.sql import SparkSession

    # Executors run this interpreter (which has orchard and pyarrow) unless told otherwise
    # (PYSPARK_PYTHON, or spark.pyspark.python as EMR sets it).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if args.master:
        builder = builder.master(args.master)
    settings = dict(item.partition("=")[::2] for item in args.conf)
    # In local mode, one task at a time gets every core, like the CLI (one engine, decoding
    # overlapping inference) instead of N single-core engines competing.
    cores = local_cores(args.master)
    if cores and "spark.task.cpus" not in settings:
        settings["spark.task.cpus"] = str(cores)
    for key, value in settings.items():
        builder = builder.config(key.strip(), value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    install_interrupt_handlers(spark.sparkContext)
    try:
        try:
            return 0, job(spark, args)
        except Exception:
            # Whatever surfaces after a signal (the cancelled job's error) is the interruption.
            if _SIGNALS_RECEIVED:
                raise JobInterrupted(_SIGNALS_RECEIVED[0]) from None
            raise
    except JobInterrupted as interrupted:
        log(f"interrupted ({interrupted}): the Spark jobs were cancelled; nothing was "
            "published (re-run with --resume to continue)")
        return EXIT_INTERRUPTED, None
    except (orchard.OrchardError, OSError, ValueError) as error:
        log(f"error: {error}")
        return 1, None
    except Py4JJavaError as error:
        cause = str(error.java_exception).strip().splitlines()
        python_error = [line for line in str(error).splitlines()
                        if "OrchardError" in line or "Error:" in line]
        log(f"error: a Spark task failed: {(python_error or cause or ['unknown'])[-1].strip()}")
        return 1, None
    finally:
        spark.stop()
