"""The project's exception types: each message names the input and what was expected."""


class PrognosError(Exception):
    """Base class of errors a user can cause; the CLIs print the message and exit non-zero."""


class DataError(PrognosError):
    """A data file or array is not what was expected (path and line are in the message)."""


class ConfigError(PrognosError):
    """A configuration value is out of range or of the wrong kind."""


class BundleError(PrognosError):
    """A deployable bundle is missing, malformed, tampered with or incompatible."""


class RowError(PrognosError):
    """One streamed sensor row was rejected; `reason` is a short counter key."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
