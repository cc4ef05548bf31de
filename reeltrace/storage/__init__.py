"""Storage: the library database (source of truth), index cache files, atomic writes."""
