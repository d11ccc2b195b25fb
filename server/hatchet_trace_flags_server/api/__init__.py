"""The JSON API, one router per resource: tasks, patterns, rules (settings, snapshot, export, import, audit),
insights, the change stream, OFREP, health. Routes call the service layer, never the store; no router
imports another.
"""
