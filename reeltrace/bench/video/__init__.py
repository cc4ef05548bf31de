"""The video benchmark: a labelled data set rendered from real footage with FFmpeg
(``dataset``, ``edits``), reeltrace and baselines run on it (``run``, ``baselines``)."""
