"""Hatchet's own run view, kept whole in link mode: the engine's exporter gets a parent-shaped copy of every
linked run (``processor``), the map from linked traces to the engine's traces (``traces``), and the metadata
that keeps the runs a linked run triggers in the engine's family (``traceparents``, ``view``)."""
