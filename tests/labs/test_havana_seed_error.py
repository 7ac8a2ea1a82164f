"""A seeding failure of the havana lab is one line naming the lab and MariaDB's error,
never a pymysql traceback (here: the lab's MariaDB is not running, so its socket is
missing)."""

from __future__ import annotations

import pytest

from engine.errors import CloudtalesError
from labs.havana import nova_db_schema
from labs.havana.lab import HavanaLab


def test_a_refused_seed_is_one_line() -> None:
    lab = HavanaLab()
    assert not lab.status().running
    plan = nova_db_schema.SeedPlan(1, 0, 1, 1, 1, 0, 1)
    with pytest.raises(CloudtalesError) as caught:
        lab._seed("pw", plan, lambda _msg: None)
    said = str(caught.value)
    assert said.startswith("lab havana: seeding nova's database failed: MariaDB error 2003: ")
    assert "\n" not in said
