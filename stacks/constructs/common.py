"""Small helpers the constructs share: log retention and removal policy from settings."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from stacks.settings import Settings

_RETENTION_BY_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


def retention(settings: Settings) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, _RETENTION_BY_DAYS[settings.log_retention_days])


def removal(settings: Settings) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY


def log_group(scope, construct_id: str, settings: Settings, name: str | None = None) -> logs.LogGroup:
    return logs.LogGroup(
        scope, construct_id, log_group_name=name, retention=retention(settings), removal_policy=removal(settings)
    )


def python_function(
    scope,
    construct_id: str,
    *,
    settings: Settings,
    function_name: str,
    handler: str,
    code,
    environment: dict[str, str],
    memory_mb: int = 256,
    timeout_seconds: int = 60,
    description: str,
):
    """A Python 3.11 x86_64 Lambda with its own log group (retention from settings) and its own
    role, which may write to that log group only (no AWS managed policy)."""
    from aws_cdk import Duration
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_lambda as lambda_

    from stacks.nag import acknowledge

    logs_group = log_group(scope, f"{construct_id}Logs", settings, name=f"/aws/lambda/{function_name}")
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{function_name}: logs to its own log group; grants added by its construct",
    )
    logs_group.grant_write(role)
    function = lambda_.Function(
        scope,
        construct_id,
        function_name=function_name,
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_11,
        architecture=lambda_.Architecture.X86_64,
        handler=handler,
        code=code,
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_seconds),
        environment=environment,
        log_group=logs_group,
        role=role,
    )
    acknowledge(
        function,
        "AwsSolutions-L1",
        "Python 3.11 is the pipeline's pinned runtime: the bundled pydantic-core wheels are built for cp311 and "
        "the local stack and tests run 3.11; moving runtimes is a deliberate change of the whole repository.",
    )
    return function
