"""labs/control_plane without a lab: the venv's cache key and the services' config files."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from labs.control_plane import cloud, configs, venv
from labs.control_plane.configs import Secrets, Site

SITE = Site("10.250.24.1", Path("/run/x/cp"), Secrets("adm", "svc", "dbpw", "rbpw"))


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_the_venv_is_keyed_by_its_pins(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("nova==34.0.0\n")
    first = venv.venv_path(req, tmp_path)
    assert first.parent == tmp_path
    assert first.name == f"control-plane-{venv.pin_hash(req)}"
    req.write_text("nova==34.0.1\n")
    assert venv.venv_path(req, tmp_path) != first
    (first / "bin").mkdir(parents=True)
    (first / "bin" / "python").touch()
    assert not venv.ready(first)  # no stamp: a half-built venv is rebuilt
    (first / venv.STAMP).write_text("nova==34.0.0\n")
    assert venv.ready(first)


def test_the_shipped_requirements_pin_every_package() -> None:
    lines = [
        ln for ln in venv.REQUIREMENTS.read_text().splitlines() if ln and not ln.startswith("#")
    ]
    assert all("==" in ln for ln in lines)
    names = {ln.split("==")[0].lower() for ln in lines}
    assert {"nova", "keystone", "openstack-placement", "glance", "gunicorn", "sqlalchemy"} <= names


def test_a_compute_has_the_fake_driver_and_no_database() -> None:
    conf = ini(configs.compute_nova_conf(SITE, "compute-2", Path("/l/c.log"), "wrong"))
    assert conf["DEFAULT"]["compute_driver"] == "fake.FakeDriver"
    assert conf["DEFAULT"]["host"] == "compute-2"
    assert conf["DEFAULT"]["transport_url"] == "rabbit://nova:wrong@10.250.24.1:5672/"
    assert not conf.has_section("database")
    assert not conf.has_section("api_database")


def test_controller_services_share_the_site() -> None:
    nova = ini(configs.controller_nova_conf(SITE))
    assert nova["database"]["connection"].startswith("mysql+pymysql://openstack:dbpw@10.250.24.1/")
    assert nova["DEFAULT"]["service_down_time"] == "15"
    keystone = ini(configs.keystone_conf(SITE))
    assert keystone["token"]["provider"] == "fernet"
    glance = ini(configs.glance_conf(SITE))
    assert glance["fs"]["filesystem_store_datadir"] == "/run/x/cp/images/fs"


def test_gunicorn_runs_each_app_without_arguments() -> None:
    for app in configs.WSGI_APPS:
        text = configs.gunicorn_conf(SITE, app)
        namespace: dict[str, object] = {}
        exec(compile(text, "gunicorn.conf.py", "exec"), namespace)  # noqa: S102 - our own file
        assert namespace["wsgi_app"] == app.module
        assert namespace["bind"] == f"10.250.24.1:{app.port}"
        assert namespace["workers"] == 1


def test_clouds_yaml_is_standard() -> None:
    doc = yaml.safe_load(cloud.clouds_yaml(SITE, "lab"))
    auth = doc["clouds"]["lab"]["auth"]
    assert auth["auth_url"] == "http://10.250.24.1:5000/v3"
    assert (auth["username"], auth["password"], auth["project_name"]) == ("admin", "adm", "admin")
