"""Looking at a running store: following trades (tail), reading health snapshots
(status), proving completeness (verify). Sync redis-py code; the CLI runs it in trio
threads. Retention (prune, archive, the prune lock) is a store operation: store/prune.py."""
