"""The benchmark scripts ``oam bench`` runs, shipped with the package; each also runs alone.

``python bench/ingest.py --help`` from a checkout, or ``python -m bench.ingest --help`` where
the suite is installed. Nothing is imported here: ``oam bench`` only locates the scripts.
"""
