"""Live streams: follow a source as it plays and say, as it happens, when a registered work
comes on and goes off (``reeltrace watch``).

source (``chunks``: the stream cut into short MPEG-TS chunks by remuxing, no re-encode) ->
windows of the last chunks, each scanned by ``Library.scan`` (the same matcher as ``scan``)
-> ``tracker``: the windows' segments followed into reuses that start, grow and end ->
events (``records.LiveEvent``), written as JSON lines.
"""
