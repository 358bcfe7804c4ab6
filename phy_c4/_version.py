"""The package version, in a module of its own so any module can read it without importing
the package's ``__init__`` (which loads the pipeline on demand)."""

__version__ = "0.2.0"
