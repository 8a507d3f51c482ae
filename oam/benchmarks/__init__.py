"""``oam bench``: run the scripts in ``bench/`` and report every figure in one table.

The scripts write their figures with :mod:`oam.benchmarks.results`; the runner
(:mod:`~oam.benchmarks.runner`) collects them, :mod:`~oam.benchmarks.report` formats the table and
:mod:`~oam.benchmarks.chart` draws the throughput chart. Nothing heavy is imported here, so a
script importing the results module stays quick to start.
"""
