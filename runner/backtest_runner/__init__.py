"""The Fargate task: turns one job of the job table into a freqtrade backtest and its results.

Run it as ``python -m backtest_runner`` with ``runner/`` on PYTHONPATH; settings come from the
environment (settings.py), exit codes are in exit_codes.py.
"""
