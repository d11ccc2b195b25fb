"""Fan-out measurement on the worker: the spawn stamp a trigger writes, the metrics a run records, and the
per-process summaries the follower reports.
"""
