"""The course's error types. Library code raises them with a message that names what was wrong and
what is valid; the command-line tools turn them into one line on stderr and a non-zero exit code.

Each is also a standard exception (``ValueError``, ``FileNotFoundError``, ...), so callers that catch
those keep working.
"""

from __future__ import annotations

import sys


class CourseError(Exception):
    """Base class: anything a command-line tool reports as ``error: ...`` with exit code 2."""

    exit_code = 2


class InvalidArgumentError(CourseError, ValueError):
    """A value outside what is valid (an unknown name, a number out of range, a malformed plan)."""


class NotAvailableError(CourseError, FileNotFoundError):
    """Something the call needs does not exist yet (a checkpoint not trained, a dataset not collected)."""


class ConfigMismatchError(CourseError, ValueError):
    """A run folder holds a run made with other settings than the ones given to resume it."""


def cli_errors(run, *args, **kwargs):
    """Call ``run(*args, **kwargs)``; a :class:`CourseError` becomes ``error: ...`` and its exit code.

    Only command-line entry points use this: library functions let their errors propagate.
    """
    try:
        return run(*args, **kwargs)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
