"""Least privilege: who may run tasks, pass roles, send messages, touch the table and buckets."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synth


def _statements(synth: Synth, role: Any) -> list[dict[str, Any]]:
    """Every statement of the policies attached to ``role``."""
    role_id = synth.logical_id(role)
    out = []
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert out, f"no policy attached to {role_id}"
    return out


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def _with(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if action in _actions(s)]


def test_run_task_is_limited_to_the_task_family_on_this_cluster(synth: Synth) -> None:
    (statement,) = _with(_statements(synth, synth.stack.consumer.function.role), "ecs:RunTask")
    assert _actions(statement) == {"ecs:RunTask"}
    (resource,) = _resources(statement)
    assert resource != "*"
    parts = resource["Fn::Join"][1]
    assert parts[-1] == f":task-definition/{synth.settings.names.task_family}:*"
    assert statement["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [synth.logical_id(synth.stack.compute.cluster), "Arn"]}}
    }


def test_pass_role_only_for_the_task_and_execution_roles(synth: Synth) -> None:
    (statement,) = _with(_statements(synth, synth.stack.consumer.function.role), "iam:PassRole")
    compute = synth.stack.compute
    expected = {synth.logical_id(compute.task_role), synth.logical_id(compute.execution_role)}
    assert {r["Fn::GetAtt"][0] for r in _resources(statement)} == expected
    assert all(r["Fn::GetAtt"][1] == "Arn" for r in _resources(statement))
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_no_statement_anywhere_runs_tasks_or_passes_roles_on_star(synth: Synth) -> None:
    for policy in synth.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            sensitive = _actions(statement) & {"ecs:RunTask", "iam:PassRole", "ecs:*", "iam:*", "*"}
            if sensitive:
                assert "*" not in _resources(statement), statement


def test_consumer_sends_only_to_its_own_queue(synth: Synth) -> None:
    statements = _with(_statements(synth, synth.stack.consumer.function.role), "sqs:SendMessage")
    queue = {"Fn::GetAtt": [synth.logical_id(synth.stack.requests.queue), "Arn"]}
    assert [_resources(s) for s in statements] == [[queue]]


def test_functions_read_and_write_the_table(synth: Synth) -> None:
    table_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.store.table), "Arn"]}
    for function in (synth.stack.consumer.function, synth.stack.task_events.function, synth.stack.reconciler.function):
        statements = _with(_statements(synth, function.role), "dynamodb:UpdateItem")
        assert len(statements) == 1
        assert {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:ConditionCheckItem"} <= _actions(statements[0])
        assert table_arn in _resources(statements[0])


def test_task_events_permissions(synth: Synth) -> None:
    statements = _statements(synth, synth.stack.task_events.function.role)
    (describe,) = _with(statements, "ecs:DescribeTasks")
    assert _actions(describe) == {"ecs:DescribeTasks"}
    assert "*" not in _resources(describe)
    assert "ecs:cluster" in describe["Condition"]["ArnEquals"]
    queue = {"Fn::GetAtt": [synth.logical_id(synth.stack.requests.queue), "Arn"]}
    assert [_resources(s) for s in _with(statements, "sqs:SendMessage")] == [[queue]]
    assert not _with(statements, "ecs:RunTask") and not _with(statements, "iam:PassRole")


def test_reconciler_permissions(synth: Synth) -> None:
    statements = _statements(synth, synth.stack.reconciler.function.role)
    (stop,) = _with(statements, "ecs:StopTask")
    assert _actions(stop) == {"ecs:DescribeTasks", "ecs:StopTask"}
    assert "*" not in _resources(stop)
    assert "ecs:cluster" in stop["Condition"]["ArnEquals"]
    assert not _with(statements, "ecs:ListTasks")  # it reads tasks by ARN from the job table
    queue = {"Fn::GetAtt": [synth.logical_id(synth.stack.requests.queue), "Arn"]}
    assert [_resources(s) for s in _with(statements, "sqs:SendMessage")] == [[queue]]  # re-queues interruptions
    assert not _with(statements, "ecs:RunTask") and not _with(statements, "iam:PassRole")


def test_runner_task_role(synth: Synth) -> None:
    store = synth.stack.store
    statements = _statements(synth, synth.stack.compute.task_role)
    (write,) = _with(statements, "s3:PutObject")
    assert _actions(write) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    assert _resources(write)[0]["Fn::Join"][1][0] == {"Fn::GetAtt": [synth.logical_id(store.results_bucket), "Arn"]}
    (read,) = _with(statements, "s3:GetObject")
    assert _actions(read) == {"s3:GetObject"}
    assert _resources(read)[0]["Fn::Join"][1][0] == {"Fn::GetAtt": [synth.logical_id(store.data_bucket), "Arn"]}
    # nothing writes to the data bucket
    data_id = synth.logical_id(store.data_bucket)
    for statement in _with(statements, "s3:PutObject") + _with(statements, "s3:DeleteObject"):
        assert data_id not in json.dumps(_resources(statement))
    assert _with(statements, "dynamodb:UpdateItem")


def test_lambda_roles_use_no_aws_managed_policy(synth: Synth) -> None:
    for function in (synth.stack.consumer.function, synth.stack.task_events.function, synth.stack.reconciler.function):
        role = synth.resources[synth.logical_id(function.role)]["Properties"]
        assert "ManagedPolicyArns" not in role
