"""Helpers the tests share: temporary projects, servers on free ports, PostgreSQL (not tests)."""
