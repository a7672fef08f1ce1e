"""The local stack behind ``make dev`` and the e2e tests: moto, Redis, and an API Gateway emulator."""
