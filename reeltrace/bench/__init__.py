"""``reeltrace bench``: accuracy and speed on real media (docs/bench.md, docs/audio.md).

``video`` and ``audio`` build their data sets and run reeltrace on them through the
library API; ``metrics`` scores any system's predictions; ``trailer`` reads the demo's
ground truth.
"""
