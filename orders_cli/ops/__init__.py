"""Operating a running store: retention (prune + archive), following trades (tail), and
reading health snapshots (status). Sync redis-py code; the CLI runs it in trio threads."""
