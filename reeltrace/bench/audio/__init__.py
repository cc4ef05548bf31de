"""``reeltrace bench --audio``: the audio fingerprint benchmark on real music and speech.

Works: real music (``~/.cache/reeltrace-media/music/<package>/*``, about 8 h) and real
speech and music from ``../shared/media/audio``. Tracks are split deterministically (a
hash of seed and path): about 60% are registered, the rest are never registered and serve
as negatives. Queries are 3, 5 and 10 s excerpts (work seconds) under each edit of
``EDITS``, made with the ffmpeg command (aresample, volume, anoisesrc + amix, amix,
highpass/lowpass, asetrate + aresample, atempo; libmp3lame, aac, libopus). Everything
runs through the ``Library`` API: ``register`` every work, ``scan`` every query.

Metrics per edit and length:

* top-1: the best-scoring match is the right work;
* segment: a segment of the right work maps the query to the right work times: its work
  start and end within 0.5 s of the true work times of its query start and end, and it
  covers at least half of the excerpt;
* FP: queries cut from never-registered audio with any match (any work, any score
  at or above the threshold); "wrong": positive queries whose best match is another work;
  every claim of a positive query on another work is listed, and is wrong unless the scan
  said the two works share the recording and their own audio confirms it (``shared``).

Plus ingest speed (register, x realtime, one process), index size per hour of audio, and
``scan`` time for 60 s clips against the whole library. The unthresholded audio segments
of every scan (``ScanTrace.audio``) are kept for recalibrating the score
(``calibration.fit_calibration``). ``--baseline chromaprint`` runs Chromaprint's ``fpcalc``
and ``--baseline audfprint`` Ellis' landmark fingerprinter (PyPI ``audfprint2``) on the
queries of a finished run, as clearly separate baselines (``baselines``); ``--levels``
breaks a finished run's mixed edits down by overlay level (``levels``).

Modules: ``dataset`` (sources, split, edits, query rendering), ``run`` (the run, its
table), ``shared`` (a shared recording checked on the two works), ``calibration``
(labelled segments, the score's fit), ``baselines`` (Chromaprint, audfprint), ``levels``
(overlay levels), ``cli`` (the command).
"""
