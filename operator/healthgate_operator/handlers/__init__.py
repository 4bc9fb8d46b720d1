"""Handler logic, one module per job; ``main`` wires Kopf's decorators to these."""
