"""The job table and the buckets."""

from __future__ import annotations

from tests.infra.conftest import Synth


def test_job_table_keys_ttl_pitr(synth: Synth) -> None:
    table = synth.resources[synth.logical_id(synth.stack.store.table)]
    props = table["Properties"]
    assert props["TableName"] == synth.settings.names.table
    assert props["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-status"
    assert index["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "received_at", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"job_id": "S", "status": "S", "received_at": "S"}


def test_removal_policy_follows_settings(synth: Synth) -> None:
    want = "Retain" if synth.settings.retain else "Delete"
    store = synth.stack.store
    for construct in (store.table, store.results_bucket, store.data_bucket, synth.stack.requests.queue):
        assert synth.resources[synth.logical_id(construct)]["DeletionPolicy"] == want
    auto_delete = synth.of_type("Custom::S3AutoDeleteObjects")
    assert bool(auto_delete) == (not synth.settings.retain)


def test_buckets_encrypted_private_tls_only(synth: Synth) -> None:
    store = synth.stack.store
    buckets = {synth.logical_id(b) for b in (store.results_bucket, store.data_bucket, store.access_logs_bucket)}
    for bucket_id in buckets:
        props = synth.resources[bucket_id]["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    tls_only = set()
    for policy in synth.of_type("AWS::S3::BucketPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                tls_only.add(policy["Properties"]["Bucket"]["Ref"])
    assert buckets <= tls_only


def test_results_and_data_buckets_log_access(synth: Synth) -> None:
    store = synth.stack.store
    logs_id = synth.logical_id(store.access_logs_bucket)
    for bucket in (store.results_bucket, store.data_bucket):
        props = synth.resources[synth.logical_id(bucket)]["Properties"]
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
