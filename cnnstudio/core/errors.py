"""User-facing errors.

Every error the core raises on purpose derives from CNNStudioError and carries a message written for
the person using the tool: what went wrong, where, and what to do about it. The CLI prints it as one
line, the app shows it in a dialog; neither shows a traceback for these.
"""


class CNNStudioError(Exception):
    """An error with a message meant for the user."""


class DatasetError(CNNStudioError):
    """A dataset cannot be found, downloaded or read."""


class DownloadCancelled(DatasetError):
    """The user cancelled a download."""


class SpecError(CNNStudioError):
    """A model spec is invalid; `layer_index` names the offending layer when there is one."""

    def __init__(self, message: str, layer_index: int | None = None):
        super().__init__(message)
        self.layer_index = layer_index


class CheckpointError(CNNStudioError):
    """A file is not a usable CNN Studio checkpoint."""


class TrainingError(CNNStudioError):
    """Training stopped because of a problem the user can act on (NaN loss, out of memory, ...)."""
