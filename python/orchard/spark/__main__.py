"""`python -m orchard.spark ...` (the run job), `python -m orchard.spark predict ...` and
`python -m orchard.spark index|search|dedup ...`."""
import json
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # The job functions are imported from their modules (never defined in __main__), so
    # Spark pickles them by reference and each executor's Embedder cache works.
    from orchard.spark.session import run_in_session

    if argv[:1] == ["predict"]:  # orchard predict's twin
        from orchard.spark import predict

        args = predict.parse_args(argv[1:])
        code, summary = run_in_session("orchard predict", args, predict.run)
        if code == 0 and args.json:
            print(json.dumps(summary, indent=2), flush=True)
        return code
    if argv[:1] and argv[0] in ("index", "search", "dedup"):  # the CLI's twins (index.py)
        from orchard.spark import index

        args = index.parse_args(argv[0], argv[1:])
        code, summary = run_in_session(f"orchard {argv[0]}", args, index.run)
        if code == 0 and args.json:
            print(json.dumps(summary, indent=2), flush=True)
        return code
    from orchard.spark import cli, job

    code, _ = run_in_session("orchard", cli.parse_args(argv), job.run)
    return code


if __name__ == "__main__":
    sys.exit(main())
