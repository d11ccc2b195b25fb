"""Fixtures for the service layer's tests: workers (``AdminServiceProvider``) that follow a real service
(defined in ``tests.support.flags.admin_service``; the servers come from ``tests/server/conftest.py``).
"""

from tests.support.flags.admin_service import caplog_info, clean_openfeature, make_provider

# pytest finds fixtures by name in this module.
__all__ = ["caplog_info", "clean_openfeature", "make_provider"]
