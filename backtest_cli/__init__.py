"""The ``backtest`` command: submit requests and follow jobs, on AWS or on the local stack.

``python -m backtest_cli --help``. It reuses ``backtest_core`` (request validation before
sending, the job-table adapter, the cancel path) rather than re-implementing them.
"""
