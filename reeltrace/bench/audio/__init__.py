"""The audio benchmark: real music and speech under edits, reeltrace and baselines."""
