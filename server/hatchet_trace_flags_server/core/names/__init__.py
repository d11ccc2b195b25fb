"""Names as people read them: one case folding for search (Python's, applied the same on both databases)
and the marking of look-alike names (Unicode TS #39)."""
