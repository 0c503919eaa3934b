"""Errors of the encoders package.

Both derive from :class:`alpha_env.errors.AlphaEnvError`, so the CLI and the experiment scripts print them
as one line instead of a traceback.
"""

from __future__ import annotations

from alpha_env.errors import AlphaEnvError, SettingsError

__all__ = ["ModelNotAvailableError", "CheckpointError", "CodebookMismatchError", "SettingsError"]


class ModelNotAvailableError(AlphaEnvError, OSError):
    """A document model (name or folder) that cannot be loaded on this machine without a download.

    The message names the model and says how to get it (download once into a folder where there is
    internet, then pass the folder).
    """


class CheckpointError(AlphaEnvError, ValueError):
    """A checkpoint file that cannot be read or does not hold the model kind asked for."""


class CodebookMismatchError(CheckpointError):
    """A checkpoint saved with another codebook (version or size) than the one it is loaded against."""
