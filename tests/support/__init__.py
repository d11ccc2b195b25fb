"""Helpers and fixtures shared by the tests, by what they stand in for: ``engine`` (a stand-in Hatchet
engine and its OTLP collector), ``worker`` (the real worker path, traces), ``flags`` (providers, the admin
service for workers, a misbehaving stub), ``server`` (live servers, processes, streams, browsers),
``charts``; ``waiting`` is the one way tests wait. Tests import helpers from here, never from another test
file."""
