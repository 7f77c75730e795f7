"""The emulated AWS: a moto server on 127.0.0.1 and boto3 clients pointed at it."""

from __future__ import annotations

import copy
import os
import socket
import threading
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def aws_environment(endpoint: str) -> dict[str, str]:
    """Variables that point any boto3 (in this process or a child) at the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        **FAKE_CREDENTIALS,
        # never read ~/.aws of the person running it
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def client(service: str, endpoint: str, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, **config),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _AtomicDynamoDB:
    """DynamoDB applies a conditional write or transaction atomically; moto's server handles
    requests on parallel threads without that guarantee. Serializing DynamoDB requests gives
    back the property the concurrency cap relies on (other services stay parallel, so an SQS
    long poll never blocks a table write)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self._lock:
                # materialize the body inside the lock: the write happens while it is produced
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


class MotoServer(ThreadedMotoServer):
    """moto's threaded server on 127.0.0.1 with atomic DynamoDB requests."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__(ip_address="127.0.0.1", port=port or free_port(), verbose=False)

    def _server_entry(self) -> None:
        app = _AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> None:
        super().start()
        # moto moves an ECS task to STOPPED the moment it is described ("immediate" progression);
        # here a task stays RUNNING until StopTask, as on Fargate.
        from moto.moto_api import state_manager

        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
        cheap_dynamodb_transactions()


class _CopyWithoutTables:
    """``copy`` for moto's DynamoDB module while a transaction runs: a table is not copied."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def cheap_dynamodb_transactions() -> None:
    """moto backs up every table a TransactWriteItems touches with a deepcopy of the whole
    table (twice for two items of one table), so each claim costs time in proportion to the
    number of jobs: 500 queued jobs slow the emulator to a crawl. Here the rollback keeps a
    copy of just the items the transaction writes, which restores the same state: DynamoDB
    requests are serialized (``_AtomicDynamoDB``), so nothing else changes them meanwhile.
    Tables with a sort key keep moto's own path (the pipeline has none)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType

    backend = models.DynamoDBBackend
    if getattr(backend, "_local_stack_rollback", False):
        return
    original = backend.transact_write_items
    shim = _CopyWithoutTables(models.Table)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            _, operation = next(iter(entry.items()))
            table = self.tables.get(operation.get("TableName"))
            if table is None:
                continue
            if table.range_key_attr is not None:
                return original(self, transact_items)
            key = (operation.get("Item") or operation.get("Key") or {}).get(table.hash_key_attr)
            if key is None:
                return original(self, transact_items)
            hash_value = DynamoType(key)
            saved.append((table, hash_value, copy.deepcopy(table.items.get(hash_value))))
        module_copy = models.copy
        models.copy = shim  # type: ignore[assignment]
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, item in reversed(saved):
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            raise
        finally:
            models.copy = module_copy

    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    backend._local_stack_rollback = True  # type: ignore[attr-defined]
