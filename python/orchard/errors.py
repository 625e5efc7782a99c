"""The errors of orchard's job-level API: one OrchardError subclass per way a command
fails, each carrying the message the `orchard` command prints and its exit code."""
from __future__ import annotations

from typing import Any, Dict, Optional

from orchard._native import OrchardError


class UsageError(OrchardError, ValueError):
    """What the command line refuses before any work (exit code 2): a bad or missing
    option, an output inside its input, ..."""

    exit_code = 2


class InputError(OrchardError):
    """The job failed on its input, model, output or data (exit code 1)."""

    exit_code = 1


class StorageError(OrchardError, OSError):
    """Reading or writing a file or an S3 object failed (exit code 1)."""

    exit_code = 1


class ResourceError(OrchardError, MemoryError):
    """The job ran out of memory (exit code 1)."""

    exit_code = 1


class Interrupted(OrchardError, KeyboardInterrupt):
    """Ctrl-C cancelled the job; nothing was published (exit code 130). A KeyboardInterrupt,
    so code that stops on Ctrl-C stops on it too."""

    exit_code = 130


# RunCommand's error kinds (apps/orchard/cli.h, ErrorKindName) -> the classes above.
_BY_KIND = {
    "usage": UsageError,
    "input": InputError,
    "storage": StorageError,
    "resource": ResourceError,
    "interrupted": Interrupted,
}


def error_for(kind: str, message: str, exit_code: int,
              summary: Optional[Dict[str, Any]] = None) -> OrchardError:
    """The exception of a failed command: its class by `kind`, str() the command line's
    message, `.exit_code`, and `.summary` (what the command produced before failing, e.g.
    predict's per-file results; None when nothing)."""
    cls = _BY_KIND.get(kind, InputError)
    error = cls(message)
    error.exit_code = exit_code
    error.summary = summary
    return error


__all__ = ["InputError", "Interrupted", "OrchardError", "ResourceError", "StorageError",
           "UsageError"]
