"""The whole pipeline on one machine, with no AWS account (DESIGN section 8).

An in-process AWS emulation (moto server on 127.0.0.1) holds the same resources the CDK stack
defines; the real Lambda handlers run in this process (``lambdas``), fed by a poller that plays
the SQS event source mapping (``poller``) and an executor that plays Fargate (``executor``).
``python -m local_stack up`` starts it and writes ``<state-dir>/state.json`` for clients
(the ``backtest --local`` CLI, tests, benchmarks).
"""
