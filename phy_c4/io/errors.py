"""Errors of reading a recording, in a module of their own so every reader can raise them."""


class DatasetError(ValueError):
    """A dataset folder is missing files or has inconsistent ones."""
