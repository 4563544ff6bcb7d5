"""The audit's IAM evaluator decides as IAM does for the statement shapes Dockhand's policies use."""

from __future__ import annotations

import pytest

from tests.audit.policies import FunctionPolicy, Request, Statement
from tests.audit.recorder import tighter_variants

TAG_ON_CREATE = {
    "Effect": "Allow",
    "Action": "ecs:TagResource",
    "Resource": "*",
    "Condition": {"StringEquals": {"ecs:CreateAction": ["RunTask", "RegisterTaskDefinition"]}},
}


def policy(*bodies: dict) -> FunctionPolicy:
    return FunctionPolicy("F", [Statement(f"S{i}", b) for i, b in enumerate(bodies)])


def test_actions_match_case_insensitively_with_wildcards_and_resources_exactly() -> None:
    # Given SQSSendMessagePolicy's shape: sqs:SendMessage* on one queue
    p = policy({"Effect": "Allow", "Action": ["sqs:SendMessage*"], "Resource": "arn:aws:sqs:us-east-1:1:q"})
    # Then the queue's SendMessage is allowed, another queue's and another action are not
    assert [s.label for s in p.allowing(Request("sqs:sendmessage", "arn:aws:sqs:us-east-1:1:q"))] == ["S0"]
    assert p.allowing(Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q2")) == []
    assert p.allowing(Request("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:1:q")) == []


def test_resource_wildcards_are_star_and_question_mark_only() -> None:
    p = policy({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:x:secret:a/b-??????"})
    assert p.allowing(Request("secretsmanager:GetSecretValue", "arn:x:secret:a/b-AbCdEf"))
    assert not p.allowing(Request("secretsmanager:GetSecretValue", "arn:x:secret:a/b-AbCdE"))
    assert not p.allowing(Request("secretsmanager:GetSecretValue", "arn:x:secret:a.b-AbCdEf"))


def test_a_condition_holds_only_when_the_request_carries_its_key_with_a_listed_value() -> None:
    p = policy(TAG_ON_CREATE)
    on_create = Request("ecs:TagResource", "arn:t", (("ecs:CreateAction", "RunTask"),))
    # Then tagging while creating is allowed; a direct TagResource (no key) and another create action are not
    assert p.allowing(on_create)
    assert not p.allowing(Request("ecs:TagResource", "arn:t"))
    assert not p.allowing(Request("ecs:TagResource", "arn:t", (("ecs:CreateAction", "CreateService"),)))
    # And the audit's tighter variant of the tag on create is the direct call, which this policy refuses
    assert [p.allowing(v) for v in tighter_variants(on_create)] == [[]]


def test_a_deny_wins_and_an_unknown_operator_stops_the_audit() -> None:
    allow = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}
    assert policy(allow, deny).allowing(Request("iam:PassRole", "arn:r")) == []
    odd = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "1"}}}
    with pytest.raises(ValueError, match="NumericLessThan"):
        policy(odd).allowing(Request("s3:GetObject", "arn:o", (("k", "0"),)))
