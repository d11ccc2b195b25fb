"""HTTP plumbing that routes share: dependencies, authentication and its throttling, dashboard sessions,
exception handlers, body limits, strict JSON, access-log redaction, shared query parameters. Imports
services, the store and ``core``; never routes.
"""
