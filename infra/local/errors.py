"""The one error the local platform raises: what went wrong, and what to do about it."""


class LocalPlatformError(RuntimeError):
    """A failure of the local platform that the user can fix.

    ``str(error)`` is one line: the cause, then the fix.
    """

    def __init__(self, cause: str, fix: str) -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause} — {fix}")
