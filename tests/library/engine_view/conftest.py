from tests.support.engine.engine_view_fixtures import collector, engine_instrument, family, family_worker

# pytest finds fixtures by name in this module.
__all__ = ["collector", "engine_instrument", "family", "family_worker"]
