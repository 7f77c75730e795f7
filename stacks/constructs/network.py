"""The VPC the backtest tasks run in (new, or an existing one from settings) and their
egress-only security group."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.constructs.common import log_group
from stacks.nag import acknowledge
from stacks.settings import Settings


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        net = settings.network
        if net.vpc_id:
            # A lookup: synth needs the stack's account and region (and credentials once, cached
            # in cdk.context.json afterwards).
            self.vpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=net.vpc_id)
        else:
            subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
            if net.nat_gateways > 0:
                subnets.append(
                    ec2.SubnetConfiguration(name="tasks", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20)
                )
            self.vpc = ec2.Vpc(
                self,
                "Vpc",
                ip_addresses=ec2.IpAddresses.cidr(net.cidr),
                max_azs=net.max_azs,
                nat_gateways=net.nat_gateways,
                subnet_configuration=subnets,
            )
            if not net.flow_logs:
                acknowledge(
                    self.vpc,
                    "AwsSolutions-VPC7",
                    f"Flow logs are off in {settings.env} (cdk.json network.flow_logs) to save their ingestion cost; "
                    "the VPC holds only egress-only backtest tasks. Staging and prod log rejected traffic.",
                )
            else:
                group = log_group(self, "FlowLogs", settings)
                self.vpc.add_flow_log(
                    "FlowLog",
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(group),
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                )

        # Tasks run in private subnets behind NAT, or in public subnets with a public IP when
        # there is no NAT (cheapest; nothing can reach them: the security group has no ingress).
        self.assign_public_ip = not net.vpc_id and net.nat_gateways == 0
        self.task_subnets = self.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PUBLIC if self.assign_public_ip else ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
        self.task_security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description="backtest tasks: no ingress, egress to the internet (exchange data, AWS APIs)",
            allow_all_outbound=True,
        )
