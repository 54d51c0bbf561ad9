"""What the user can fix, told apart from what is a bug.

A `UserError` is bad input, a missing file or a checkpoint that does not fit: the command lines
print it as one line (`cli.run`) and exit 1. Every other exception is ours, and keeps its
traceback. Errors that callers already catch as ValueError or FileNotFoundError subclass those too.
"""


class UserError(Exception):
    """Something the user can fix; the message says what, naming the file or flag."""


class InvalidInputError(UserError, ValueError):
    """A file, flag or config value that is not what the command needs."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the command needs is not there; the message says where to get it."""
