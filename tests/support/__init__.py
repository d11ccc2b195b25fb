"""Helpers and fixtures shared by the tests: ``library`` (the worker path, traces, flags), ``server``
(live servers, processes, streams, browsers), ``charts``. Tests import helpers from here, never from
another test file."""
