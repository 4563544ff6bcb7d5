"""A world moto's RunTask can start Fargate (awsvpc) tasks in: a network and a one-container task family."""

from __future__ import annotations

from typing import Any


def launchable_network(ec2: Any, name: str, cidr: str = "10.0") -> tuple[str, str]:
    """(subnet id, security group id) in a new VPC with DNS hostnames on: moto's awsvpc RunTask reads the ENI's
    private DNS name, which exists only then."""
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    return str(subnet), str(group)


def register_fargate_family(ecs: Any, family: str, container: str = "main", image: str = "busybox") -> str:
    """A one-container awsvpc task definition (moto's RunTask wants container memory); its ARN."""
    return str(
        ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": container, "image": image, "memory": 512, "essential": True}],
        )["taskDefinition"]["taskDefinitionArn"]
    )
