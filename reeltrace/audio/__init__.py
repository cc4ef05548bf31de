"""The audio chain: mono samples -> spectral landmarks -> hash index -> offset voting ->
verified, scored segments.

``config`` (the numbers), ``spectrum`` (short-time spectra, whitening), ``landmarks``
(peaks and pair hashes, work and query side), ``evidence`` (the query's evidence map),
``index`` (hash table, lookup, cache), ``match`` (offset voting into segments),
``verify`` (work peaks read against the query), ``score`` (calibration), ``records``.
"""
