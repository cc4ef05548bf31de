"""The audio chain: mono samples -> spectral landmarks -> hash index -> offset voting ->
verified, scored segments.

``config`` (``AudioConfig``: the numbers, passed in), ``spectrum`` (short-time spectra,
whitening), ``landmarks`` (peaks and pair hashes, work and query side), ``hashes`` (the
hash's bit layout), ``evidence`` (the query's evidence map), ``index`` (hash table,
lookup, cache), ``match`` (offset voting into segments), ``verify`` (work peaks read
against the query), ``score`` (calibration), ``records``.
"""
