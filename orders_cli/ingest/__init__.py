"""The composition root of ``orders run``: builds the pipeline, the writer and
the run-time services around them, and runs them in one nursery."""
