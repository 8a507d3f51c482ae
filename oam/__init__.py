"""The ``oam`` command line and the local suite it runs (``oam up``, ``oam status``, ``oam down``)."""
from foundation.version import __version__

__all__ = ["__version__"]
