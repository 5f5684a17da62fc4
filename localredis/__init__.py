"""Private redis-server processes on free 127.0.0.1 ports, for tests/ and bench/: one
server (:mod:`localredis.server`) and the multi-process topologies, a Redis Cluster and a
Sentinel set (:mod:`localredis.topologies`).

Not part of the ``orders`` package (not installed): it is imported from the repository
root, which pytest puts on ``sys.path`` (``pythonpath = ["."]``) and bench/benchlib.py
adds. It may import ``orders_cli``; nothing in ``orders_cli`` imports it.
"""
