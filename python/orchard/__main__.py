"""The `orchard` command of the wheel (console script) and `python -m orchard`: the
executable's own command line (orchard::cli::RunCommand), with the shipped model found
inside the package. Same commands, flags, exit codes, progress line and outputs."""
import sys


def main(argv=None) -> int:
    """Runs `orchard ARGS...` (default: sys.argv[1:]) and returns its exit code."""
    from orchard import _native, shipped_model_path

    args = sys.argv[1:] if argv is None else list(argv)
    # Python's buffered streams first, so that the command's output follows what was printed.
    sys.stdout.flush()
    sys.stderr.flush()
    return _native.cli_main(args, shipped_model_path())


if __name__ == "__main__":
    sys.exit(main())
