"""Pydantic models for playbook YAML files (one file per tale).

Every model forbids unknown keys, so a typo is an error with a file, a line and
a field, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Link(Strict):
    title: str
    url: str


class Symptom(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str
    description: str = ""
    keywords: list[str] = Field(default_factory=list)
    start: str = Field(description="id of the first check")


class Check(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str
    why: str = Field(description="why this check comes now, shown to the operator")
    type: str
    hosts: list[str] = Field(default_factory=list, description="host names or roles")
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0, le=3600)
    on: dict[str, str] = Field(description="outcome -> next node id")
    fallback: str = Field(description="next node when the check is skipped, fails or times out")

    @field_validator("on")
    @classmethod
    def _non_empty(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("a check needs at least one outcome mapping")
        return v


class Remedy(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str
    description: str = ""
    hosts: list[str] = Field(default_factory=list)
    commands: list[str] = Field(default_factory=list)
    changes_host: bool = Field(
        default=True, description="a remedy that changes or deletes anything runs only as a dry run"
    )


class Diagnosis(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(description="a template: {facts.X} must name a required fact")
    explanation: str
    requires: list[str] = Field(
        description="facts/outcomes that must hold on observed facts (CHECK.FACT, =A|B, >=N)"
    )
    or_requires: list[list[str]] = Field(
        default_factory=list, description="other complete sets of evidence that also suffice"
    )
    from_errors: bool = Field(
        default=False,
        description="about a failure of the infrastructure itself: may be reached through a"
        " fallback edge and may require CHECK.error",
    )
    reachable_by_fallback: bool = Field(
        default=False,
        description="says so: a path through a fallback edge may reach it without its evidence"
        " (the walk then ends inconclusive there)",
    )
    evidence: list[str] = Field(default_factory=list, description="more fact names to show")
    links: list[Link] = Field(default_factory=list)
    remedies: list[str] = Field(default_factory=list)
    lesson: str = ""
    conclusive: bool = Field(default=True, description="False for 'not this tale' endings")

    @field_validator("requires", "or_requires")
    @classmethod
    def _parse(cls, v: list[Any]) -> list[Any]:
        from engine.playbook.evidence import parse_requirement

        for item in v:
            for text in item if isinstance(item, list) else [item]:
                parse_requirement(text)
        return v

    @field_validator("requires")
    @classmethod
    def _some(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("a diagnosis needs the evidence it stands on (at least one fact)")
        return v

    def requirement_sets(self) -> list[list[str]]:
        return [self.requires, *self.or_requires]


class Drill(Strict):
    lab: str = Field(description="lab name (cloudtales lab up NAME)")
    symptom: str = Field(description="the symptom the trainee starts from")
    expect: str = Field(description="the diagnosis the faulty lab must lead to")
    faults: dict[str, str] = Field(
        default_factory=dict,
        description="more faults of the lab (drill --fault NAME) -> the diagnosis each leads to",
    )


class Playbook(Strict):
    tale: str = Field(pattern=ID_PATTERN)
    title: str
    source: Link
    summary: str = ""
    drill: Drill | None = None
    symptoms: list[Symptom] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    remedies: list[Remedy] = Field(default_factory=list)
