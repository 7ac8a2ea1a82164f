"""Lint over every shipped playbook, and over broken ones: each problem names file, line, field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.checks.registry import check_types
from engine.playbook.files import default_playbook_dir
from engine.playbook.graph import load_graph

GOOD = (default_playbook_dir() / "double-vlan.yaml").read_text()
REPO = Path(__file__).resolve().parents[2]


def lint(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "pb.yaml"
    f.write_text(text)
    _, problems = load_graph([f])
    return [str(p) for p in problems]


def test_shipped_playbooks_are_clean() -> None:
    graph, problems = load_graph()
    assert problems == []
    assert "ssh-freezes-on-large-output" in {s.id for s in graph.symptoms()}
    assert graph.kind("vlan-on-vlan") == "diagnosis"


def test_cli_lint_passes_and_fails(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "tui.cli", "lint", str(default_playbook_dir())],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok: 1 playbook(s)") or ok.stdout.startswith("ok:")
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("fallback: nova-vlan-interface\n", "fallback: nowhere\n", 1))
    res = subprocess.run(
        [sys.executable, "-m", "tui.cli", "lint", str(bad)], capture_output=True, text=True
    )
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert f"{bad}:" in res.stdout
    assert "unknown node 'nowhere'" in res.stdout


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # schema: an unknown key, with the line it sits on
        (
            "    timeout: 60\n    on:\n      reduced",
            "    timeout: 60\n    colour: red\n    on:\n      reduced",
            "checks[pmtu-outside-instance].colour: Extra inputs are not permitted",
        ),
        # schema: missing fallback
        (
            "    fallback: capture-path\n",
            "",
            "checks[pmtu-outside-instance].fallback: Field required",
        ),
        # dangling reference
        (
            "      full: path-mtu-ok\n",
            "      full: path-mtu-okay\n",
            "unknown node 'path-mtu-okay'",
        ),
        # an outcome the detector declares is not mapped
        (
            "      unreachable: instance-not-answering\n",
            "",
            "outcome 'unreachable' of path_mtu is not mapped",
        ),
        # an outcome the detector never produces
        (
            "      reduced: capture-path\n",
            "      reduced: capture-path\n      huge: capture-path\n",
            "path_mtu has no outcome 'huge'",
        ),
        # unknown check type
        ("    type: link_facts\n", "    type: link_fact\n", "unknown check type 'link_fact'"),
        # a parameter the check type does not take
        (
            "      expected_mtu: 1500\n",
            "      expected_mtu: 1500\n      size: 9000\n",
            "params.size: Extra inputs",
        ),
        # a cycle
        (
            "      is_base_device: double-tag-elsewhere\n",
            "      is_base_device: capture-path\n",
            "cycle:",
        ),
        # evidence that no upstream check produces
        (
            "      - links-compute.stacked_devices\n",
            "      - links-compute.colour\n",
            "fact 'links-compute.colour' is not produced by any check upstream",
        ),
        # a placeholder naming a fact nobody produces
        (
            "{facts.links-compute.vlan_devices}",
            "{facts.links-compute.bonds}",
            "names no fact produced upstream",
        ),
        # a check no symptom reaches
        (
            "    start: pmtu-outside-instance\n",
            "    start: capture-path\n",
            "unreachable from every symptom",
        ),
        # duplicate ids
        ("  - id: path-mtu-ok\n", "  - id: vlan-on-vlan\n", "duplicate id"),
        # evidence rules: a diagnosis with no requirement at all
        (
            "    requires:\n      - pmtu-outside-instance.outcome=full\n"
            "      - pmtu-outside-instance.summary\n",
            "    requires: []\n",
            "diagnoses[path-mtu-ok].requires: Value error, a diagnosis needs the evidence",
        ),
        # a requirement that is not one
        (
            "      - pmtu-outside-instance.outcome=unreachable\n",
            "      - pmtu-outside-instance.outcome>=lots\n",
            ">= needs a number",
        ),
        # a requirement the path's own outcome contradicts
        (
            "      - nova-vlan-interface.outcome=is_vlan_device\n",
            "      - nova-vlan-interface.outcome=unset\n",
            "diagnoses[vlan-on-vlan].requires: not backed on the path "
            "ssh-freezes-on-large-output -> pmtu-outside-instance[",
        ),
        # a requirement no check on the path produces
        (
            "      - capture-path.first_stacking_hop\n      - nova-vlan-interface.outcome=is_vlan",
            "      - capture-path.colour\n      - nova-vlan-interface.outcome=is_vlan",
            "capture-path never produces 'colour'",
        ),
        # reachable through a fallback edge without its evidence, and not saying so
        (
            "    fallback: inconclusive\n\n  - id: links-compute",
            "    fallback: links-compute\n\n  - id: links-compute",
            "capture-path[fallback] -> links-compute",
        ),
        # an error as evidence, from a diagnosis that does not declare from_errors
        (
            "      - pmtu-outside-instance.outcome=unreachable\n",
            "      - pmtu-outside-instance.error\n",
            "does not declare from_errors",
        ),
        # a title naming a fact the diagnosis does not require
        (
            "vlan_interface is {facts.nova-vlan-interface.vlan_interface}",
            "vlan_interface is {facts.links-compute.vlan_devices}",
            "diagnoses[vlan-on-vlan].title: {facts.links-compute.vlan_devices} is not required",
        ),
        # the reserved ending cannot be redefined
        ("  - id: path-mtu-ok\n", "  - id: inconclusive\n", "a reserved id"),
        # drill expecting a diagnosis that does not exist
        (
            "  expect: vlan-on-vlan\n",
            "  expect: vlan-on-vlam\n",
            "drill.expect: no diagnosis 'vlan-on-vlam'",
        ),
    ],
)
def test_broken_playbook_is_reported(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD, old
    problems = lint(tmp_path, GOOD.replace(old, new, 1))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(tmp_path / "pb.yaml")) for p in problems)


def test_problem_gives_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("      full: path-mtu-ok\n", "      full: path-mtu-okay\n", 1)
    line = text.splitlines().index("      full: path-mtu-okay") + 1
    problems = lint(tmp_path, text)
    assert any(p.startswith(f"{tmp_path / 'pb.yaml'}:{line}:") for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tale: x\n  bad: [\n", "invalid YAML"),
        ("- just\n- a list\n", "a playbook is a mapping"),
        ("", "a playbook is a mapping"),
        (
            "tale: Bad Id\ntitle: t\nsource: {title: a, url: b}\n",
            "tale: String should match pattern",
        ),
    ],
)
def test_syntax_errors(tmp_path: Path, text: str, expected: str) -> None:
    problems = lint(tmp_path, text)
    assert len(problems) == 1
    assert expected in problems[0]


def test_symptom_reaching_no_diagnosis(tmp_path: Path) -> None:
    text = """
tale: t
title: T
source: {title: s, url: u}
symptoms:
  - {id: s1, title: S, start: c1}
checks:
  - id: c1
    title: C
    why: because
    type: link_facts
    hosts: [compute]
    on: {vlan_on_vlan: c2, vlan_on_base: c2, no_vlan_devices: c2}
    fallback: c2
  - id: c2
    title: C2
    why: because
    type: link_facts
    hosts: [compute]
    on: {vlan_on_vlan: c1, vlan_on_base: c1, no_vlan_devices: c1}
    fallback: c1
"""
    problems = lint(tmp_path, text)
    assert any("cycle" in p for p in problems), problems


def test_importing_one_check_module_first_hides_no_other() -> None:
    code = (
        "import engine.checks.nova_db\n"
        "from engine.checks.registry import check_types\n"
        "names = check_types()\n"
        "assert {'link_facts', 'vlan_capture', 'nova_db_rows'} <= set(names), sorted(names)\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
    assert int(out.stdout) == len(check_types())


def test_check_modules_are_discovered_not_listed() -> None:
    from engine.checks import registry

    package = REPO / "engine" / "checks"
    files = {p.stem for p in package.glob("*.py")} - {"__init__", *registry._SKIP}
    assert registry._check_modules() == [f"engine.checks.{name}" for name in sorted(files)]
    # every discovered module registers at least one check type
    modules = {t.run.__module__ for t in check_types().values()}
    assert modules == set(registry._check_modules())
