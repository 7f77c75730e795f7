"""The request queue, its DLQ and the consumer Lambda's event source and configuration."""

from __future__ import annotations

from tests.infra.conftest import Synth

CONSUMER_ENV = {
    "ECS_CLUSTER",
    "ECS_TASK_DEFINITION_ARN",
    "ECS_SUBNETS",
    "ECS_SECURITY_GROUPS",
    "WORKFLOW_STATE_TABLE",
    "ENVIRONMENT",
    "BACKTEST_QUEUE_URL",
    "ECS_CONTAINER_NAME",
    "ECS_ASSIGN_PUBLIC_IP",
    "SPOT_FALLBACK_TO_ON_DEMAND",
    "MAX_CONCURRENT_TASKS",
    "DEFER_DELAY_SECONDS",
    "METRICS_NAMESPACE",
}


def _consumer(synth: Synth) -> dict:
    return synth.one("AWS::Lambda::Function", FunctionName=synth.settings.names.consumer_function)[1]["Properties"]


def test_event_source_reports_partial_failures_with_bounded_concurrency(synth: Synth) -> None:
    mappings = synth.of_type("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    props = next(iter(mappings.values()))["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 10
    assert props["ScalingConfig"] == {"MaximumConcurrency": synth.settings.consumer_max_concurrency}
    assert props["EventSourceArn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.requests.queue), "Arn"]}
    assert props["FunctionName"] == {"Ref": synth.logical_id(synth.stack.consumer.function)}


def test_visibility_timeout_is_at_least_six_times_the_consumer_timeout(synth: Synth) -> None:
    queue = synth.resources[synth.logical_id(synth.stack.requests.queue)]["Properties"]
    timeout = _consumer(synth)["Timeout"]
    assert timeout == synth.settings.consumer_timeout_seconds
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_queue_redrives_to_an_encrypted_dead_letter_queue(synth: Synth) -> None:
    queue = synth.resources[synth.logical_id(synth.stack.requests.queue)]["Properties"]
    dlq_id = synth.logical_id(synth.stack.requests.dead_letter_queue)
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    dlq = synth.resources[dlq_id]["Properties"]
    assert "RedrivePolicy" not in dlq
    for props in (queue, dlq):
        assert props["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_both_queues_deny_requests_without_tls(synth: Synth) -> None:
    queues = {synth.logical_id(synth.stack.requests.queue), synth.logical_id(synth.stack.requests.dead_letter_queue)}
    protected = set()
    for policy in synth.of_type("AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}:
                protected.update(q["Ref"] for q in policy["Properties"]["Queues"])
    assert protected == queues


def test_consumer_function_shape(synth: Synth) -> None:
    props = _consumer(synth)
    assert props["Handler"] == "backtest_consumer.handler.lambda_handler"
    assert props["Runtime"] == "python3.11"
    assert props["Architectures"] == ["x86_64"]
    assert props["MemorySize"] == synth.settings.consumer_memory_mb
    assert props["FunctionName"].startswith("backtest-consumer")


def test_consumer_environment_contract(synth: Synth) -> None:
    env = _consumer(synth)["Environment"]["Variables"]
    s = synth.settings
    assert set(env) >= CONSUMER_ENV
    assert env["ECS_CONTAINER_NAME"] == "runner"
    assert env["METRICS_NAMESPACE"] == "BacktestPipeline"
    assert env["ENVIRONMENT"] == s.env
    assert env["MAX_CONCURRENT_TASKS"] == str(s.max_concurrent_tasks)
    assert env["DEFER_DELAY_SECONDS"] == str(s.defer_delay_seconds)
    assert env["SPOT_FALLBACK_TO_ON_DEMAND"] == ("true" if s.spot_fallback_to_on_demand else "false")
    assert env["ECS_ASSIGN_PUBLIC_IP"] in ("true", "false")
    assert env["ECS_ASSIGN_PUBLIC_IP"] == ("true" if s.network.nat_gateways == 0 else "false")
    assert env["ECS_CLUSTER"] == {"Ref": synth.logical_id(synth.stack.compute.cluster)}
    assert env["ECS_TASK_DEFINITION_ARN"] == {"Ref": synth.logical_id(synth.stack.compute.task_definition)}
    assert env["WORKFLOW_STATE_TABLE"] == {"Ref": synth.logical_id(synth.stack.store.table)}
    assert env["BACKTEST_QUEUE_URL"] == {"Ref": synth.logical_id(synth.stack.requests.queue)}
    assert env["ECS_SECURITY_GROUPS"] == {
        "Fn::GetAtt": [synth.logical_id(synth.stack.network.task_security_group), "GroupId"]
    }
    # a comma-separated list of the task subnets
    subnets = env["ECS_SUBNETS"]
    delimiter, parts = subnets["Fn::Join"]
    refs = [p["Ref"] for p in parts if isinstance(p, dict)]
    separators = [p for p in parts if isinstance(p, str)]
    assert "".join([delimiter, *separators]).strip(",") == ""
    assert len(refs) == len(separators) + 1 == s.network.max_azs
    subnet_type = "Public" if s.network.nat_gateways == 0 else "Private"
    for ref in refs:
        assert {"Key": "aws-cdk:subnet-type", "Value": subnet_type} in synth.resources[ref]["Properties"]["Tags"]


def test_each_function_has_its_handler_and_log_retention(synth: Synth) -> None:
    names = synth.settings.names
    handlers = {
        names.consumer_function: "backtest_consumer.handler.lambda_handler",
        names.task_events_function: "task_events.handler.lambda_handler",
        names.reconciler_function: "reconciler.handler.lambda_handler",
    }
    functions = {
        f["Properties"]["FunctionName"]: f["Properties"]
        for f in synth.of_type("AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") in handlers
    }
    assert {name: props["Handler"] for name, props in functions.items()} == handlers
    # all three share one code asset
    assert len({str(props["Code"]) for props in functions.values()}) == 1
    groups = {
        g["Properties"].get("LogGroupName"): g["Properties"] for g in synth.of_type("AWS::Logs::LogGroup").values()
    }
    for name in handlers:
        assert groups[f"/aws/lambda/{name}"]["RetentionInDays"] == synth.settings.log_retention_days


def test_task_events_and_reconciler_environment(synth: Synth) -> None:
    names, s = synth.settings.names, synth.settings
    events = synth.one("AWS::Lambda::Function", FunctionName=names.task_events_function)[1]["Properties"]
    env = events["Environment"]["Variables"]
    assert {
        "WORKFLOW_STATE_TABLE",
        "ECS_CLUSTER",
        "BACKTEST_QUEUE_URL",
        "MAX_ATTEMPTS",
        "ENVIRONMENT",
        "METRICS_NAMESPACE",
    } <= set(env)
    assert env["MAX_ATTEMPTS"] == str(s.max_attempts)
    reconciler = synth.one("AWS::Lambda::Function", FunctionName=names.reconciler_function)[1]["Properties"]
    env = reconciler["Environment"]["Variables"]
    assert {
        "WORKFLOW_STATE_TABLE",
        "ECS_CLUSTER",
        "MAX_TASK_DURATION_MINUTES",
        "ENVIRONMENT",
        "METRICS_NAMESPACE",
    } <= set(env)
    assert env["MAX_TASK_DURATION_MINUTES"] == str(s.max_task_duration_minutes)
