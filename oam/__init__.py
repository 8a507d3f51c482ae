"""The ``oam`` command line and the local suite it runs (``oam up``, ``oam status``, ``oam down``)."""
__version__ = "0.1.0"
