"""Wiring: the app factory (store, feed, services, routers, middleware, lifespan) and the uvicorn runner.
The one layer that may import every other.
"""
