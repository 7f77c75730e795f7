"""Where jobs and their artefacts live: the job table, the results bucket and the data bucket."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.common import removal as removal_policy
from stacks.settings import Settings

STATUS_INDEX = "by-status"
TTL_ATTRIBUTE = "ttl"


class JobStore(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        names = settings.names
        removal = removal_policy(settings)

        self.table = dynamodb.Table(
            self,
            "JobTable",
            table_name=names.table,
            partition_key=dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=settings.retain,
            removal_policy=removal,
        )
        self.table.add_global_secondary_index(
            index_name=STATUS_INDEX,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="received_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        # Server access logs of the two buckets below.
        self.access_logs_bucket = self._bucket(
            "AccessLogsBucket", names.bucket("access-logs", Aws.ACCOUNT_ID, Aws.REGION), settings, removal
        )
        self.results_bucket = self._bucket(
            "ResultsBucket",
            names.bucket("results", Aws.ACCOUNT_ID, Aws.REGION),
            settings,
            removal,
            logs_prefix="results/",
        )
        self.data_bucket = self._bucket(
            "DataBucket", names.bucket("data", Aws.ACCOUNT_ID, Aws.REGION), settings, removal, logs_prefix="data/"
        )

    def _bucket(
        self, construct_id: str, name: str, settings: Settings, removal: RemovalPolicy, logs_prefix: str | None = None
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=settings.retain,
            lifecycle_rules=[s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(7))],
            removal_policy=removal,
            auto_delete_objects=not settings.retain,
            server_access_logs_bucket=self.access_logs_bucket if logs_prefix else None,
            server_access_logs_prefix=logs_prefix,
        )
