"""The host agent: one per server; tails log and span files, collects metrics, ships to collectors."""
