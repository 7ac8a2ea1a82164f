"""The control plane's configuration files, as the services' own options.

Every service reads real files: ``keystone.conf`` (fernet tokens), ``glance-api.conf``
(file store), ``placement.conf``, the controller's ``nova.conf`` (API, conductor,
scheduler) and each compute's ``nova.conf`` (``compute_driver = fake.FakeDriver``, no
database access, RPC over RabbitMQ only). A WSGI app gets a ``gunicorn.conf.py`` in its
own directory, so gunicorn runs with no argument at all: oslo.config in the app parses
``sys.argv``, and gunicorn's flags would be taken for its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SERVICE_USERS = ("nova", "glance", "placement")
DATABASES = ("keystone", "glance", "placement", "nova_api", "nova", "nova_cell0")
CONTROLLER_HOST = "controller"  # nova's ``host`` for nova-conductor and nova-scheduler


@dataclass(frozen=True)
class Secrets:
    """Per-lab passwords (random at every build; kept in the lab's state)."""

    admin: str
    service: str  # the service users' keystone password
    db: str  # the ``openstack`` MariaDB user
    rabbit: str  # the ``nova`` RabbitMQ user

    @classmethod
    def from_mapping(cls, data: Mapping[str, str]) -> Secrets:
        return cls(data["admin"], data["service"], data["db"], data["rabbit"])


@dataclass(frozen=True)
class Site:
    controller_ip: str
    home: Path  # everything the services write: logs, state, images, keys
    secrets: Secrets
    region: str = "RegionOne"
    service_down_time: int = 15
    report_interval: int = 3

    @property
    def keystone_url(self) -> str:
        return f"http://{self.controller_ip}:5000/v3"

    def db_url(self, database: str) -> str:
        return (
            f"mysql+pymysql://openstack:{self.secrets.db}@{self.controller_ip}/{database}"
            "?charset=utf8"
        )

    def transport_url(self, password: str | None = None) -> str:
        pw = self.secrets.rabbit if password is None else password
        return f"rabbit://nova:{pw}@{self.controller_ip}:5672/"

    def log(self, name: str) -> Path:
        return self.home / "log" / f"{name}.log"


def _ini(sections: Mapping[str, Mapping[str, object]]) -> str:
    out = ["# written by a cloudtales lab (labs/control_plane)"]
    for section, options in sections.items():
        out.append(f"\n[{section}]")
        out += [f"{k} = {v}" for k, v in options.items()]
    return "\n".join(out) + "\n"


def _auth(site: Site, username: str) -> dict[str, object]:
    return {
        "auth_type": "password",
        "auth_url": site.keystone_url,
        "project_domain_name": "Default",
        "user_domain_name": "Default",
        "project_name": "service",
        "username": username,
        "password": site.secrets.service,
        "region_name": site.region,
    }


def _authtoken(site: Site, username: str) -> dict[str, object]:
    return {
        "www_authenticate_uri": site.keystone_url,
        **_auth(site, username),
        "service_token_roles_required": "true",
    }


def keystone_conf(site: Site) -> str:
    keys = site.home / "keystone"
    return _ini(
        {
            "DEFAULT": {"log_file": site.log("keystone")},
            "database": {"connection": site.db_url("keystone")},
            "token": {"provider": "fernet"},
            "fernet_tokens": {"key_repository": keys / "fernet-keys"},
            "fernet_receipts": {"key_repository": keys / "fernet-keys"},
            "credential": {"key_repository": keys / "credential-keys"},
            # bcrypt's minimum: the lab's users are created in ms, not seconds
            "identity": {"password_hash_rounds": 4},
        }
    )


def glance_conf(site: Site) -> str:
    images = site.home / "images"
    return _ini(
        {
            "DEFAULT": {"log_file": site.log("glance-api"), "enabled_backends": "fs:file"},
            "database": {"connection": site.db_url("glance")},
            "glance_store": {"default_backend": "fs"},
            "fs": {"filesystem_store_datadir": images / "fs"},
            "os_glance_staging_store": {"filesystem_store_datadir": images / "staging"},
            "os_glance_tasks_store": {"filesystem_store_datadir": images / "tasks"},
            "keystone_authtoken": _authtoken(site, "glance"),
            "paste_deploy": {"flavor": "keystone"},
        }
    )


def placement_conf(site: Site) -> str:
    return _ini(
        {
            "DEFAULT": {"log_file": site.log("placement-api")},
            "placement_database": {"connection": site.db_url("placement")},
            "api": {"auth_strategy": "keystone"},
            "keystone_authtoken": _authtoken(site, "placement"),
        }
    )


def controller_nova_conf(site: Site) -> str:
    """nova-api, nova-conductor and nova-scheduler (each logs to its own file: ``log_dir``)."""
    return _ini(
        {
            "DEFAULT": {
                "transport_url": site.transport_url(),
                "log_dir": site.home / "log",
                "state_path": site.home / "state" / "controller",
                "service_down_time": site.service_down_time,
                "report_interval": site.report_interval,
                "host": CONTROLLER_HOST,
            },
            "api": {"auth_strategy": "keystone"},
            "api_database": {"connection": site.db_url("nova_api")},
            "database": {"connection": site.db_url("nova")},
            "keystone_authtoken": _authtoken(site, "nova"),
            "placement": _auth(site, "placement"),
            "neutron": _auth(site, "nova"),
            "glance": {"api_servers": f"http://{site.controller_ip}:9292"},
            "conductor": {"workers": 1},
            "scheduler": {"workers": 1, "discover_hosts_in_cells_interval": -1},
            "oslo_concurrency": {"lock_path": site.home / "state" / "lock"},
            "wsgi": {"api_paste_config": site.home / "etc" / "nova" / "api-paste.ini"},
        }
    )


def compute_nova_conf(site: Site, host: str, log: Path, rabbit_password: str | None) -> str:
    """A compute's nova.conf: no database section, as on a real compute node."""
    return _ini(
        {
            "DEFAULT": {
                "host": host,
                "transport_url": site.transport_url(rabbit_password),
                "compute_driver": "fake.FakeDriver",
                "log_file": log,
                "state_path": site.home / "state" / host,
                "report_interval": site.report_interval,
                "service_down_time": site.service_down_time,
            },
            "placement": _auth(site, "placement"),
            "glance": {"api_servers": f"http://{site.controller_ip}:9292"},
            "oslo_concurrency": {"lock_path": site.home / "state" / host / "lock"},
        }
    )


@dataclass(frozen=True)
class WsgiApp:
    name: str  # keystone, glance-api, placement-api, nova-api
    module: str  # the app's entry point in the lab's venv
    port: int
    env_var: str  # where the app looks for its config dir
    conf_dir: str  # under site.home/etc
    service_type: str  # in keystone's catalogue
    url_suffix: str = ""


WSGI_APPS = (
    WsgiApp("keystone", "keystone.wsgi.api:application", 5000, "OS_KEYSTONE_CONFIG_DIR",
            "keystone", "identity", "/v3"),
    WsgiApp("glance-api", "glance.wsgi.api:application", 9292, "OS_GLANCE_CONFIG_DIR",
            "glance", "image"),
    WsgiApp("placement-api", "placement.wsgi.api:application", 8778, "OS_PLACEMENT_CONFIG_DIR",
            "placement", "placement"),
    WsgiApp("nova-api", "nova.wsgi.osapi_compute:application", 8774, "OS_NOVA_CONFIG_DIR",
            "nova", "compute", "/v2.1"),
)  # fmt: skip


def gunicorn_conf(site: Site, app: WsgiApp) -> str:
    return (
        "# written by a cloudtales lab: gunicorn reads this from its working directory\n"
        f"wsgi_app = {app.module!r}\n"
        f"bind = '{site.controller_ip}:{app.port}'\n"
        "workers = 1\n"
        "timeout = 120\n"
        f"pidfile = '{site.home / 'run' / (app.name + '.pid')}'\n"
        f"errorlog = '{site.log(app.name + '-gunicorn')}'\n"
        "daemon = True\n"
        "control_socket_disable = True\n"
    )
