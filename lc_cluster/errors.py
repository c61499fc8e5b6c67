"""Errors that reach the user as one line, never as a traceback. The exit codes are a documented contract (README):
2 bad input or a refusal, 1 the world failed, INTERNAL_EXIT a bug of ours."""

# A bug of lc-cluster's own, whose traceback is saved to a file: distinct from anything a user or a cluster causes.
INTERNAL_EXIT = 70


class LcError(Exception):
    """Bad input or an impossible request: the message says what to change."""

    exit_code = 2


class WorldError(LcError):
    """The input was fine, the world failed: Slurm refused or did not answer, a node or a process died."""

    exit_code = 1


class CatalogError(LcError):
    """A model or GPU file, or a name looked up in the catalogs, is wrong."""


class PlanRefused(LcError):
    """A layout that cannot work. `limit` names the rule it broke, for scripts and tests."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
