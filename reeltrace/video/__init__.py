"""The video chain: sampled frames -> content regions -> SSCD descriptors -> FAISS index ->
candidate frame matches -> aligned chains -> scored segments.

``regions`` (content box, picture-in-picture windows), ``embed`` (descriptors and query
views), ``background`` (genericness penalty), ``index`` (FAISS), ``candidates`` (kNN
matches per work), ``align`` (line voting into chains), ``score`` (calibrated decision),
``records`` (what passes between them).
"""
