"""The local environment: real Redis, PostgreSQL, Neo4j, etcd, kube-apiserver and Prometheus.

Usable from pytest fixtures (``tests/conftest.py``) and from the command line
(``python -m tests.env up|down|status|install``).
"""
