"""The suite's version, as ``oam --version``, the agents and the change events report it."""

__version__ = "0.1.0"
