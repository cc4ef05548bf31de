"""Reports: scan results as tables, JSON and CSV (``formats``), and self-contained HTML
evidence with frame pairs (``evidence``)."""
