"""The integration tests' harness: the servers, databases, projects and
result checks that tests/integration/conftest.py turns into fixtures."""
