"""The CDK app's stacks: stateful (network, data, secrets), service (layers, functions, API),
monitoring (canary, expected-state parameter, alarms, dashboard). ``app.py`` wires them."""
