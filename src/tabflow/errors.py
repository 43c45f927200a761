"""Errors that end a stage with one clear line (no traceback). Import-light on purpose."""


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, the column and the fix."""
