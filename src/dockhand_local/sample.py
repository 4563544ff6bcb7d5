"""The sample world of config/dockhand.yaml, made in a running runtime: what a push needs before it can deploy.

ECR repositories `web` and `nightly-report`; cluster `demo`; task definitions `web` (web:1.0.0 and a log-router
sidecar) and `nightly-report`; the Fargate services `demo/web` (staging) and `prod/web` (production, promoted from
staging, in the production account 210987654321 and eu-west-1) (2 tasks each, circuit breaker with rollback) in a
network with DNS hostnames (moto's RunTask wants it) — the jobs' network when the declarations name one.
`dockhand local sample` and `make demo` both make it here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CLUSTER, SERVICE, REPOSITORY, JOB = "demo", "web", "web", "nightly-report"
PROD_CLUSTER = "prod"  # the production stage: web is promoted there from staging (demo/web)
PROD_ACCOUNT, PROD_REGION = "210987654321", "eu-west-1"  # config/dockhand.yaml's `accounts.production`, its Region
FIRST_TAG = "1.0.0"
SIDECAR_IMAGE = "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"


@dataclass
class Sample:
    repository_uri: str
    subnet: str
    security_group: str
    task_definition: str  # the service's first revision

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def create_sample(client: Any, network: dict[str, str]) -> Sample:
    """Make the sample world with `client(service)` (`client(service, account, region)`: in another account);
    `network` is the runtime's (name → id) job network."""
    ecr, ecs = client("ecr"), client("ecs")
    repository_uri = ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
    report_uri = ecr.create_repository(repositoryName=JOB)["repository"]["repositoryUri"]
    subnet, security_group = _network(client("ec2"), network)
    ecs.create_cluster(clusterName=CLUSTER)
    common = {
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    }
    web = ecs.register_task_definition(
        family=SERVICE,
        **common,
        containerDefinitions=[
            {
                "name": "web",
                "image": f"{repository_uri}:{FIRST_TAG}",
                "memory": 384,
                "essential": True,
                "portMappings": [{"containerPort": 8080}],
            },
            {"name": "log-router", "image": SIDECAR_IMAGE, "memory": 128, "essential": False},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.register_task_definition(
        family=JOB,
        **common,
        containerDefinitions=[{"name": "report", "image": f"{report_uri}:2.0.0", "memory": 512, "essential": True}],
    )
    service = {
        "serviceName": SERVICE,
        "desiredCount": 2,
        "launchType": "FARGATE",
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    }
    network_of = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [security_group]}}
    ecs.create_service(cluster=CLUSTER, taskDefinition=web, networkConfiguration=network_of, **service)
    # Production: the production account, in its Region, running the same image from this account's registry.
    prod_ecs = client("ecs", PROD_ACCOUNT, PROD_REGION)
    prod_ecs.create_cluster(clusterName=PROD_CLUSTER)
    prod_subnet, prod_group = _network(client("ec2", PROD_ACCOUNT, PROD_REGION), {})
    prod_web = prod_ecs.register_task_definition(
        family=SERVICE,
        **common,
        containerDefinitions=[
            {"name": "web", "image": f"{repository_uri}:{FIRST_TAG}", "memory": 384, "essential": True},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    prod_network = {"awsvpcConfiguration": {"subnets": [prod_subnet], "securityGroups": [prod_group]}}
    prod_ecs.create_service(cluster=PROD_CLUSTER, taskDefinition=prod_web, networkConfiguration=prod_network, **service)
    return Sample(repository_uri, subnet, security_group, str(web))


def _network(ec2: Any, network: dict[str, str]) -> tuple[str, str]:
    """The job network the runtime made, or a new VPC with DNS hostnames, a subnet and a security group."""
    subnets = [v for v in network.values() if v.startswith("subnet-")]
    groups = [v for v in network.values() if v.startswith("sg-")]
    if subnets and groups:
        return subnets[0], groups[0]
    vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.43.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=SERVICE, Description=SERVICE, VpcId=vpc)["GroupId"]
    return subnet, group


def describe(sample: Sample) -> list[str]:
    """What was made, one line each (what `dockhand local sample` prints)."""
    return [
        f"ECR repositories {REPOSITORY} ({sample.repository_uri}) and {JOB}",
        f"cluster {CLUSTER}; service {SERVICE} on {sample.task_definition.rsplit('/', 1)[-1]} "
        f"({REPOSITORY}:{FIRST_TAG} + a log-router sidecar), 2 tasks, circuit breaker with rollback",
        f"cluster {PROD_CLUSTER} in account {PROD_ACCOUNT}, {PROD_REGION}; service {SERVICE} on web:1.0.0 "
        f"(production: promoted from staging, demo/{SERVICE})",
        f"task definition {JOB} for the job; network {sample.subnet} / {sample.security_group}",
        f"push {REPOSITORY}:1.1.0 to deploy it: dockhand local manifest {REPOSITORY}:1.1.0 > manifest.json",
    ]
