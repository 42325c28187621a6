#!/usr/bin/python3
"""Summary of measurements taken in alternation, one number per line on stdin (A, B, A, B, ...):
every value, each side's median and the median of the per-pair speed-ups of B over A.
  bench/pair_stats.py UNIT LABEL     (UNIT "ms": lower is better; anything else, e.g. "samples/s": higher)
"""
import statistics
import sys

unit, label = sys.argv[1], sys.argv[2]
values = [float(line) for line in sys.stdin if line.strip()]
a, b = values[0::2], values[1::2]
speedups = [(x / y) if unit == "ms" else (y / x) for x, y in zip(a, b)]
digits = 3 if unit == "ms" else 1
print(f"A {unit}:", " ".join(f"{x:.{digits}f}" for x in a), f"| B {unit}:", " ".join(f"{x:.{digits}f}" for x in b))
print(f"{label}: A {statistics.median(a):.{digits}f} {unit}, B {statistics.median(b):.{digits}f} {unit}, "
      f"B is {statistics.median(speedups):.2f}x faster (median of {len(speedups)} ratios)")
