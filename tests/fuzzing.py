"""Counts of the cases property-based tests ran, by what they fuzz; the unit run prints them."""
from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()
