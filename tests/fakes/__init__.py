"""Loopback fake forges for tests: real clients (PyGithub) talk HTTP to them on 127.0.0.1."""
