"""The bottom layer: what every package of the suite may import (it imports none of ours)."""
