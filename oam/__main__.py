"""``python -m oam`` runs the ``oam`` command."""
from .cli import main

main()
