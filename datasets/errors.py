"""User-facing data errors: one line that says what to do."""


class DataError(RuntimeError):
    """Base class; ``str(err)`` is the one line shown to the user."""


class DataNotFoundError(DataError):
    pass


class IntegrityError(DataError):
    pass


class UnknownDatasetError(DataError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])
