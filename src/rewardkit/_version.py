"""The package's version, in one place: ``pyproject.toml`` reads it from here, and so does every module
that reports it (``rewardkit.__version__``, the bulk manifest, ``/info``)."""

__version__ = "0.1.0"
