"""The ``hatchet-trace-flags`` command line. Client commands talk to the service over HTTP (``client``);
``serve`` starts the app.
"""
