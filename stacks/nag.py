"""cdk-nag (AwsSolutions) acknowledgments. Each one names the rule, the construct it applies to
and the reason the design accepts it; app.py runs the checks and any other finding fails synth.

Finding ids of granular rules (IAM4/IAM5) embed the resource as it appears in the template, for
example ``AwsSolutions-IAM5[Resource::<JobStoreJobTableBA1C5BB3.Arn>/index/*]``; ``ref`` below
renders a construct the same way, so an acknowledgment follows a renamed construct.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept ``rule`` (``AwsSolutions-XXX`` or ``AwsSolutions-IAM5[...]``) on ``scope`` and below."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def ref(construct: IConstruct, attribute: str | None = None) -> str:
    """``<LogicalId>`` or ``<LogicalId.Attr>`` of a construct's CloudFormation resource, as
    cdk-nag writes it in a finding id."""
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to name")
    stack = Stack.of(construct)
    logical_id = stack.resolve(stack.get_logical_id(element))
    return f"<{logical_id}.{attribute}>" if attribute else f"<{logical_id}>"
