"""The service layer: how routes read and change rules, settings, discovered tasks and insights (validate,
write, publish, count), the change feed, and the retention sweep. Imports the store and ``core``, never
routes or ``http``.
"""
