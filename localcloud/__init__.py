"""Local stand-ins for Azure, for development and tests only; never deployed.

- ``localcloud.arm``: an ARM emulator the real Azure SDK clients talk to over loopback.
- ``localcloud.clock``: the one simulation clock shared by everything that runs in one process.
- ``localcloud.functions``: a local Functions host that runs function_app.py through the real durable engine.
- ``localcloud.stepper``: drives all of it on a stopped clock, from one due moment to the next (deterministic tests).
- ``localcloud.httpserver``: the small threaded HTTP server both emulators are built on.
"""
