"""Exceptions with messages that say what went wrong, where, and how to fix it."""

from __future__ import annotations


class AmbigError(Exception):
    """Base class of every error this package raises on purpose."""


class DataFileError(AmbigError):
    """A public data file is missing, corrupt, or could not be fetched."""


class TeacherSetError(AmbigError):
    """A synthetic teacher set (TSV) is malformed; the message names file and line."""


class ModelStoreError(AmbigError):
    """A named model could not be resolved from any source."""


class NotebookRunError(AmbigError):
    """A notebook failed while being executed by the runner."""
