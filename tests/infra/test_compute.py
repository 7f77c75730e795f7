"""ECS cluster capacity providers and the runner's Fargate task definition."""

from __future__ import annotations

import re

from tests.infra.conftest import Synth


def test_cluster_has_fargate_and_fargate_spot(synth: Synth) -> None:
    (_, assoc), *rest = synth.of_type("AWS::ECS::ClusterCapacityProviderAssociations").items()
    assert not rest
    assert sorted(assoc["Properties"]["CapacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    assert assoc["Properties"]["Cluster"] == {"Ref": synth.logical_id(synth.stack.compute.cluster)}


def test_container_insights_follows_settings(synth: Synth) -> None:
    cluster = synth.resources[synth.logical_id(synth.stack.compute.cluster)]["Properties"]
    want = "enabled" if synth.settings.container_insights else "disabled"
    assert {"Name": "containerInsights", "Value": want} in cluster["ClusterSettings"]


def test_task_definition(synth: Synth) -> None:
    s = synth.settings
    props = synth.resources[synth.logical_id(synth.stack.compute.task_definition)]["Properties"]
    assert props["Family"] == s.names.task_family
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert props["Cpu"] == str(s.task_cpu) and props["Memory"] == str(s.task_memory_mib)
    assert props["RuntimePlatform"] == {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}
    assert props["TaskRoleArn"]["Fn::GetAtt"][1] == "Arn"
    assert props["ExecutionRoleArn"]["Fn::GetAtt"][1] == "Arn"

    (container,) = props["ContainerDefinitions"]
    assert container["Name"] == "runner"
    assert container["Essential"] is True
    assert container["Memory"] == s.task_memory_mib
    assert container["StopTimeout"] == 120
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    group_id = container["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
    assert synth.resources[group_id]["Properties"]["RetentionInDays"] == s.log_retention_days
    # the image is the asset built from runner/ (a content hash tag in the bootstrap repository)
    image = str(container["Image"])
    assert "container-assets" in image and re.search(r":[0-9a-f]{64}", image)

    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert {"WORKFLOW_STATE_TABLE", "RESULTS_BUCKET", "DATA_BUCKET", "ENVIRONMENT", "EXCHANGE"} <= set(env)
    assert env["EXCHANGE"] == "binance" and env["ENVIRONMENT"] == s.env
    assert env["WORKFLOW_STATE_TABLE"] == {"Ref": synth.logical_id(synth.stack.store.table)}
    assert env["RESULTS_BUCKET"] == {"Ref": synth.logical_id(synth.stack.store.results_bucket)}
    assert env["DATA_BUCKET"] == {"Ref": synth.logical_id(synth.stack.store.data_bucket)}
    assert "JOB_ID" not in env  # per task, as an override


def test_runner_image_asset_is_linux_amd64(synth: Synth) -> None:
    manifest = next(synth.outdir.glob("*.assets.json")).read_text()
    assert '"platform": "linux/amd64"' in manifest


def test_task_security_group_has_no_ingress(synth: Synth) -> None:
    sg = synth.resources[synth.logical_id(synth.stack.network.task_security_group)]["Properties"]
    assert "SecurityGroupIngress" not in sg
    assert not synth.of_type("AWS::EC2::SecurityGroupIngress")
    assert sg["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "Allow all outbound traffic by default", "IpProtocol": "-1"}
    ]


def test_new_vpc_subnets_and_nat_count(synth: Synth) -> None:
    net = synth.settings.network
    assert len(synth.of_type("AWS::EC2::NatGateway")) == net.nat_gateways
    subnets = synth.of_type("AWS::EC2::Subnet")
    kinds = [s["Properties"]["Tags"] for s in subnets.values()]
    public = [t for t in kinds if {"Key": "aws-cdk:subnet-type", "Value": "Public"} in t]
    private = [t for t in kinds if {"Key": "aws-cdk:subnet-type", "Value": "Private"} in t]
    assert len(public) == net.max_azs
    assert len(private) == (net.max_azs if net.nat_gateways else 0)
    assert bool(synth.of_type("AWS::EC2::FlowLog")) == net.flow_logs
