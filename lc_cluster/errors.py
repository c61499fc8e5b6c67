"""Errors that reach the user as one line and exit code 2, never as a traceback."""


class LcError(Exception):
    """Bad input or an impossible request: the message says what to change."""

    exit_code = 2


class CatalogError(LcError):
    """A model or GPU file, or a name looked up in the catalogs, is wrong."""


class PlanRefused(LcError):
    """A layout that cannot work. `limit` names the rule it broke, for scripts and tests."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
