"""Task state events, the reconciler schedule, alarms, the dashboard and the stack outputs."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synth


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()}


def test_task_state_changes_of_this_cluster_reach_task_events(synth: Synth) -> None:
    rules = [r["Properties"] for r in synth.of_type("AWS::Events::Rule").values() if "EventPattern" in r["Properties"]]
    (rule,) = rules
    cluster_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.compute.cluster), "Arn"]}
    assert rule["EventPattern"] == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"clusterArn": [cluster_arn]},
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.task_events.function), "Arn"]}
    permissions = [p["Properties"] for p in synth.of_type("AWS::Lambda::Permission").values()]
    assert any(
        p["Principal"] == "events.amazonaws.com"
        and p["FunctionName"]["Fn::GetAtt"][0] == target["Arn"]["Fn::GetAtt"][0]
        for p in permissions
    )


def test_reconciler_runs_on_a_schedule(synth: Synth) -> None:
    (rule,) = [
        r["Properties"] for r in synth.of_type("AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]
    ]
    minutes = synth.settings.reconcile_every_minutes
    assert rule["ScheduleExpression"] == f"rate({minutes} minute{'s' if minutes > 1 else ''})"
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.reconciler.function), "Arn"]}


def test_alarm_metrics(synth: Synth) -> None:
    names = synth.settings.names
    alarms = _alarms(synth)
    topic = {"Ref": synth.logical_id(synth.stack.monitoring.topic)}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"

    dlq = alarms[names.alarm("dlq-depth")]
    assert dlq["Namespace"] == "AWS/SQS" and dlq["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["Threshold"] == 0
    assert dlq["Dimensions"][0]["Value"]["Fn::GetAtt"][0] == synth.logical_id(synth.stack.requests.dead_letter_queue)

    age = alarms[names.alarm("queue-oldest-message")]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Threshold"] == synth.settings.alarms.oldest_message_age_seconds

    failed = alarms[names.alarm("requests-failed")]
    stats = [m["MetricStat"]["Metric"] for m in failed["Metrics"] if "MetricStat" in m]
    assert {m["MetricName"] for m in stats} == {"BacktestRequestsFailed"}
    assert {m["Namespace"] for m in stats} == {"BacktestPipeline"}
    reasons = set()
    for metric in stats:
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dims["Environment"] == synth.settings.env
        reasons.add(dims["Reason"])
    assert reasons == {"InvalidConfig", "ECSLaunchError", "Internal"}
    (expression,) = [m for m in failed["Metrics"] if "Expression" in m]
    assert expression["ReturnData"] is True

    tasks = alarms[names.alarm("tasks-failed")]
    assert tasks["Namespace"] == "BacktestPipeline" and tasks["MetricName"] == "BacktestTasksFailed"

    for label in ("consumer", "task-events", "reconciler"):
        assert alarms[names.alarm(f"{label}-errors")]["MetricName"] == "Errors"
        assert alarms[names.alarm(f"{label}-throttles")]["MetricName"] == "Throttles"


def test_alarm_email_subscription_only_when_configured(synth: Synth) -> None:
    subscriptions = synth.of_type("AWS::SNS::Subscription")
    assert len(subscriptions) == (1 if synth.settings.alarms.email else 0)
    topic = synth.resources[synth.logical_id(synth.stack.monitoring.topic)]
    assert topic["Properties"]["TopicName"] == synth.settings.names.alarm_topic


def test_dashboard_shows_the_pipeline_metrics(synth: Synth) -> None:
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == synth.settings.names.dashboard
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "BacktestRequestsReceived",
        "BacktestTasksLaunched",
        "BacktestRequestsFailed",
        "BacktestRequestsDeferred",
        "BacktestDuplicateRequests",
        "BacktestTasksSucceeded",
        "BacktestTasksFailed",
        "BacktestTasksInterrupted",
        "BacktestTaskDuration",
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
    ):
        assert metric in body, metric


def test_stack_outputs(synth: Synth) -> None:
    assert set(synth.template["Outputs"]) >= {
        "QueueUrl",
        "DeadLetterQueueUrl",
        "JobTableName",
        "ResultsBucketName",
        "DataBucketName",
        "ClusterName",
        "DashboardName",
        "DashboardUrl",
        "ConsumerFunctionName",
        "AlarmTopicArn",
    }
    outputs = synth.template["Outputs"]
    assert outputs["QueueUrl"]["Value"] == {"Ref": synth.logical_id(synth.stack.requests.queue)}
    assert outputs["ConsumerFunctionName"]["Value"] == {"Ref": synth.logical_id(synth.stack.consumer.function)}


def test_pipeline_metrics_use_exactly_the_dimensions_the_functions_emit(synth: Synth) -> None:
    for alarm in _alarms(synth).values():
        metrics = [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        if alarm.get("Namespace") == "BacktestPipeline":
            metrics.append(alarm)
        for metric in metrics:
            if metric["Namespace"] != "BacktestPipeline":
                continue
            dims = {d["Name"] for d in metric["Dimensions"]}
            want = {"Environment", "Reason"} if metric["MetricName"] == "BacktestRequestsFailed" else {"Environment"}
            assert dims == want, metric
