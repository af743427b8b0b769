"""Stand-in servers for the tests, each implementing a documented contract on a real
loopback socket. :mod:`tests.fakes.asgi` runs any ASGI app on a free port."""
