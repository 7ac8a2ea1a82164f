"""Remedies are planned with this incident's facts: placeholders filled, or the plan
refuses to run and says which fact is missing."""

from __future__ import annotations

from engine.playbook.graph import load_valid_graph
from engine.playbook.model import Remedy
from engine.remedy import plan_remedy
from engine.remote.inventory import Host, Inventory

INV = Inventory(
    name="t",
    hosts={
        "cc01": Host(
            address="10.0.0.1", roles=["controller"], vars={"nova_conf": "/etc/nova.conf"}
        ),
        "nc01": Host(address="10.0.0.2", roles=["compute"]),
        "nc02": Host(address="10.0.0.3", roles=["compute"]),
    },
)


def test_havana_archive_is_planned_with_the_cutoff_and_row_counts() -> None:
    graph = load_valid_graph()
    remedy = graph.remedies["havana-archive-deleted-rows"]
    facts = {
        "havana-db-rows.archive_before": "2025-11-25",
        "havana-db-rows.archive_rows": 1234567,
        "havana-db-rows.archive_instances": 285000,
        "havana-db-rows.archive_system_metadata": 949095,
        "havana-db-rows.archive_metadata": 472,
        "havana-db-rows.purge_rows": 1234567,
    }
    plan = plan_remedy(remedy, INV, facts)
    assert plan.unresolved == []
    assert plan.runnable
    assert [h.name for h in plan.hosts] == ["cc01"]
    assert plan.commands[0].startswith("nova-manage db archive_deleted_rows --before 2025-11-25 ")
    assert "1234567 rows" in plan.description
    assert "{facts." not in " ".join(plan.commands) + plan.description


def test_a_missing_fact_is_named_and_blocks_the_run() -> None:
    remedy = Remedy(
        id="r",
        title="t",
        hosts=["{facts.where.host}"],
        commands=[": > {facts.big.path}", "sync"],
    )
    plan = plan_remedy(remedy, INV, {"where.host": "nc02"})
    assert [h.name for h in plan.hosts] == ["nc02"]
    assert plan.commands == [": > {facts.big.path}", "sync"]
    assert plan.unresolved == ["{facts.big.path}"]
    assert not plan.runnable


def test_roles_and_host_vars_and_unknown_hosts() -> None:
    remedy = Remedy(
        id="r", title="t", hosts=["compute", "storage"], commands=["cat {hosts.cc01.nova_conf}"]
    )
    plan = plan_remedy(remedy, INV, {})
    assert [h.name for h in plan.hosts] == ["nc01", "nc02"]
    assert plan.missing_hosts == ["storage"]
    assert plan.commands == ["cat /etc/nova.conf"]
    assert plan.runnable
