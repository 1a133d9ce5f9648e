"""Scans beyond one process: the executor choice (executor.py), the unit of work a
cluster runs (work.py) and the request budget each credential keeps across a cluster
(budget.py). dask is imported only when a cluster is asked for; docs/distributed.md tells
how to run a scan on one."""
