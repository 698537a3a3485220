"""User-facing errors.

Every failure a user can cause raises a subclass of :class:`PartGenError` whose message names the input
and says what to do. The CLI prints the message on one line and exits with a non-zero status.
"""


class PartGenError(Exception):
    """Base class of every error a user can cause (bad input, bad checkpoint, bad output path)."""

    exit_code = 2


class InputFileError(PartGenError):
    """An input file is missing, unreadable, empty, corrupt or of the wrong kind."""


class CheckpointError(PartGenError):
    """A weights file is unreadable, unsafe, truncated or does not match the architecture."""


class ConfigError(PartGenError):
    """A configuration file or value is invalid."""


class OutputPathError(PartGenError):
    """The output location cannot be used (exists as a file, not writable, holds foreign files)."""
