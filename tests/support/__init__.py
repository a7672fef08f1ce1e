"""Real parts for tests: redis-server processes, network fault servers, moto in server mode."""
