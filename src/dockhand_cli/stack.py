"""How every `dockhand` command that reads or writes the stack's resources finds them: from the stack's
CloudFormation outputs (`--stack`, default `dockhand`, or DOCKHAND_STACK), never from names written here.

A deployed stack and the local runtime are found the same way: `dockhand local up` registers its stack, with
the template's outputs, in its own CloudFormation. A stack that cannot be read is one line on stderr (which
stack, which Region, what to do) and exit code 2; an AWS error after that is one line and exit code 1.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console

from dockhand_local.stack import LOCAL_CONTROL_OUTPUT, STACK_NAME

err = Console(stderr=True, soft_wrap=True)

STACK_ENV = "DOCKHAND_STACK"

StackOption: Any = typer.Option(
    STACK_NAME,
    "--stack",
    envvar=STACK_ENV,
    help="The Dockhand stack whose CloudFormation outputs name its resources",
    show_envvar=True,
)
RegionOption: Any = typer.Option(
    None, "--region", help="The stack's Region (default: the session's: AWS_DEFAULT_REGION or the profile's)"
)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(message, highlight=False, markup=False)
    raise typer.Exit(code)


@dataclass(frozen=True)
class DeployedStack:
    name: str
    region: str
    status: str
    outputs: dict[str, str]

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            fail(
                f"stack {self.name!r} in {self.region} has no output {key} (status {self.status}): "
                "deploy this version of Dockhand to it (sam deploy)"
            )
        return value

    def client(self, service: str) -> Any:
        from dockhand.aws import clients

        return clients.client(service, self.region)

    def table(self) -> Any:
        """The stack's state table (output StateTableName)."""
        import boto3

        from dockhand.aws.clients import boto_config
        from dockhand.state.table import Table

        resource = boto3.resource("dynamodb", region_name=self.region, config=boto_config())
        return Table(resource, self.output("StateTableName"))

    def now(self) -> datetime:
        """The stack's time: the local runtime's clock for the local stack, else this machine's clock."""
        control = self.outputs.get(LOCAL_CONTROL_OUTPUT)
        if not control:
            return datetime.now(UTC)
        try:
            with urllib.request.urlopen(f"{control}/status", timeout=10) as response:  # loopback only
                clock = json.loads(response.read())["clock"]
        except OSError as exc:
            fail(f"the local runtime of stack {self.name!r} does not answer at {control} ({exc}); is it running?")
        return datetime.fromisoformat(clock)


def session_region() -> str | None:
    import boto3

    return boto3.session.Session().region_name


class StackUnreadable(Exception):
    """The stack cannot be read; the message says which stack, which Region, and what to do."""


def find_stack(name: str, region: str | None = None) -> DeployedStack:
    """The stack `name` as CloudFormation describes it; one line and exit 2 when it cannot be read."""
    try:
        return read_stack(name, region)
    except StackUnreadable as exc:
        fail(str(exc))


def read_stack(name: str, region: str | None = None) -> DeployedStack:
    """The stack `name` as CloudFormation describes it; StackUnreadable (one line) when it cannot be read."""
    import os

    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    from dockhand.aws import clients

    region = region or session_region()
    if not region:
        raise StackUnreadable(f"no AWS Region to find stack {name!r} in: set AWS_DEFAULT_REGION or pass --region")
    try:
        described = clients.client("cloudformation", region).describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if "does not exist" in message:
            raise StackUnreadable(
                f"stack {name!r} not found in {region}: deploy Dockhand there (sam deploy), or start "
                '`dockhand local up` and run `eval "$(dockhand local env)"`, or name the stack with --stack or '
                f"{STACK_ENV}"
            ) from None
        raise StackUnreadable(
            f"stack {name!r} in {region} cannot be read ({clients.error_code(exc)}: {message})"
        ) from None
    except EndpointConnectionError:
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        hint = "is `dockhand local up` still running?" if endpoint else "check the network and the Region"
        raise StackUnreadable(
            f"stack {name!r} in {region} cannot be read: nothing answers at {endpoint or region}; {hint}"
        ) from None
    except NoCredentialsError:
        raise StackUnreadable(
            f"stack {name!r} in {region} cannot be read: no AWS credentials (set a profile or AWS_ACCESS_KEY_ID)"
        ) from None
    except BotoCoreError as exc:
        raise StackUnreadable(f"stack {name!r} in {region} cannot be read ({type(exc).__name__}: {exc})") from None
    outputs = {o["OutputKey"]: str(o["OutputValue"]) for o in described.get("Outputs", [])}
    return DeployedStack(name, region, str(described.get("StackStatus", "")), outputs)


@contextmanager
def aws_errors(stack: DeployedStack, doing: str) -> Iterator[None]:
    """An AWS error while `doing` becomes one line naming the stack, and exit code 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    from dockhand.aws.clients import error_code
    from dockhand.errors import RetryableError

    try:
        yield
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        fail(f"{doing} (stack {stack.name!r}, {stack.region}): {error_code(exc)}: {message}", code=1)
    except (BotoCoreError, RetryableError) as exc:
        fail(f"{doing} (stack {stack.name!r}, {stack.region}): {type(exc).__name__}: {exc}", code=1)
