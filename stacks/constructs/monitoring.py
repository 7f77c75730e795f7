"""Alarms (to an SNS topic) and the pipeline dashboard.

Metric identity in CloudWatch is namespace + name + the exact set of dimensions. The Lambdas
emit EMF through Powertools with one default dimension, ``Environment``, and no ``service``
dimension (so no function sets POWERTOOLS_SERVICE_NAME: Powertools would add it);
BacktestRequestsFailed also carries ``Reason``. The dimension sets are written down here, once.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.settings import METRICS_NAMESPACE, Settings

FAILURE_REASONS = ("InvalidConfig", "ECSLaunchError", "Internal")
CONSUMER_METRICS = (
    "BacktestRequestsReceived",
    "BacktestTasksLaunched",
    "BacktestRequestsDeferred",
    "BacktestDuplicateRequests",
)
TASK_METRICS = ("BacktestTasksSucceeded", "BacktestTasksFailed", "BacktestTasksInterrupted")


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        functions: Sequence[tuple[str, lambda_.IFunction]],
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        names = settings.names
        thresholds = settings.alarms
        self._period = Duration.minutes(thresholds.period_minutes)

        self.topic = sns.Topic(self, "AlarmTopic", topic_name=names.alarm_topic, enforce_ssl=True)
        if thresholds.email:
            self.topic.add_subscription(subscriptions.EmailSubscription(thresholds.email))
        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: dict[str, cw.Alarm] = {}

        self._alarm(
            "dlq-depth",
            dead_letter_queue.metric_approximate_number_of_messages_visible(period=self._period, statistic="Maximum"),
            thresholds.dlq_depth,
            "requests reached the dead-letter queue",
        )
        self._alarm(
            "queue-oldest-message",
            queue.metric_approximate_age_of_oldest_message(period=self._period, statistic="Maximum"),
            thresholds.oldest_message_age_seconds,
            "the oldest request has waited too long: the consumer is not keeping up or is failing",
        )
        self._alarm(
            "requests-failed",
            self.requests_failed(),
            thresholds.failed_requests,
            "backtest requests failed (all reasons)",
        )
        self._alarm(
            "tasks-failed",
            self.pipeline_metric("BacktestTasksFailed"),
            thresholds.failed_tasks,
            "backtest tasks failed",
        )
        for label, function in functions:
            self._alarm(
                f"{label}-errors",
                function.metric_errors(period=self._period, statistic="Sum"),
                thresholds.lambda_errors,
                f"{label} Lambda errors",
            )
            self._alarm(
                f"{label}-throttles",
                function.metric_throttles(period=self._period, statistic="Sum"),
                thresholds.lambda_throttles,
                f"{label} Lambda throttles",
            )

        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=names.dashboard, default_interval=Duration.days(1)
        )
        self._widgets(queue, dead_letter_queue, functions)
        self.dashboard_url = (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={names.dashboard}"
        )

    # metrics
    def pipeline_metric(self, name: str, statistic: str = "Sum", **dimensions: str) -> cw.Metric:
        return cw.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"Environment": self._settings.env, **dimensions},
            statistic=statistic,
            period=self._period,
        )

    def requests_failed(self) -> cw.MathExpression:
        """BacktestRequestsFailed summed over its Reason dimension (alarms cannot use SEARCH)."""
        parts = {
            f"f{i}": self.pipeline_metric("BacktestRequestsFailed", Reason=reason)
            for i, reason in enumerate(FAILURE_REASONS)
        }
        return cw.MathExpression(
            expression=" + ".join(f"FILL({key}, 0)" for key in parts),
            using_metrics=parts,
            label="BacktestRequestsFailed",
            period=self._period,
        )

    def _alarm(self, what: str, metric: cw.Metric | cw.MathExpression, threshold: float, description: str) -> None:
        alarm = metric.create_alarm(
            self,
            f"Alarm-{what}",
            alarm_name=self._settings.names.alarm(what),
            alarm_description=f"{description} ({self._settings.env})",
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[what] = alarm

    def _widgets(self, queue: sqs.IQueue, dlq: sqs.IQueue, functions: Sequence[tuple[str, lambda_.IFunction]]) -> None:
        p = self._period
        self.dashboard.add_widgets(
            cw.TextWidget(
                markdown=f"# Backtest pipeline ({self._settings.env})\n"
                "Requests -> consumer -> Fargate tasks -> task events. Alarms go to the SNS topic (stack outputs).",
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Requests (consumer)",
                left=[self.pipeline_metric(name) for name in CONSUMER_METRICS],
                width=12,
            ),
            cw.GraphWidget(
                title="Failed requests by reason",
                left=[self.pipeline_metric("BacktestRequestsFailed", Reason=reason) for reason in FAILURE_REASONS],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Tasks (task events)",
                left=[self.pipeline_metric(name) for name in TASK_METRICS],
                width=12,
            ),
            cw.GraphWidget(
                title="Task duration (seconds)",
                left=[
                    self.pipeline_metric("BacktestTaskDuration", statistic=stat)
                    for stat in ("Average", "p90", "Maximum")
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(
                        period=p, statistic="Maximum", label="queue visible"
                    ),
                    queue.metric_approximate_number_of_messages_not_visible(
                        period=p, statistic="Maximum", label="queue in flight"
                    ),
                    dlq.metric_approximate_number_of_messages_visible(
                        period=p, statistic="Maximum", label="DLQ visible"
                    ),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Oldest message age (seconds)",
                left=[queue.metric_approximate_age_of_oldest_message(period=p, statistic="Maximum")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda errors and throttles",
                left=[f.metric_errors(period=p, statistic="Sum", label=f"{label} errors") for label, f in functions],
                right=[
                    f.metric_throttles(period=p, statistic="Sum", label=f"{label} throttles") for label, f in functions
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Lambda duration (p90, ms)",
                left=[f.metric_duration(period=p, statistic="p90", label=label) for label, f in functions],
                width=12,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24),
        )
