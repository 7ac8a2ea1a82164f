"""What nova-api on the Havana controller wrote while its EC2 API crawled: the log only.

nova-api cannot run here, so this writes the access log it would have left: two
hours of EC2 and OpenStack API requests in Havana's format (``nova.ec2.wsgi.server``
and ``nova.osapi_compute.wsgi.server`` lines, eventlet's ``accepted`` lines, the EC2
``Requestlog`` lines), with ``RunInstances`` taking 95-140 s when faulty (one is the
tale's own 138.5970151 s request) and 3-5 s when healthy, as under Grizzly.
"""

from __future__ import annotations

import datetime as dt
import random

PID = 129745
TALE_REQUEST = "req-84d16d16-3808-426b-b7af-3b90a11b83b0"
TALE_USER = "0c6e7dba03c24c6a9bce299747499e8a"
TALE_PROJECT = "7052bd6714e7460caeb16242e68124f9"
CLIENTS = ("117.103.103.29", "117.103.103.41", "10.250.6.20")
USER_AGENT = "Boto/2.9.6 Python/2.7.5 Linux/2.6.32-358.el6.x86_64"

# action -> (api, weight, healthy seconds, faulty seconds, response length)
ACTIONS: dict[str, tuple[str, int, tuple[float, float], tuple[float, float], int]] = {
    "DescribeInstances": ("ec2", 30, (0.3, 1.2), (0.4, 1.6), 5120),
    "DescribeImages": ("ec2", 10, (0.1, 0.5), (0.1, 0.5), 2210),
    "DescribeSecurityGroups": ("ec2", 5, (0.05, 0.3), (0.05, 0.3), 1380),
    "DescribeKeyPairs": ("ec2", 4, (0.04, 0.2), (0.04, 0.2), 610),
    "DescribeAddresses": ("ec2", 4, (0.05, 0.3), (0.05, 0.3), 540),
    "RunInstances": ("ec2", 5, (2.8, 4.6), (95.0, 140.0), 1109),
    "TerminateInstances": ("ec2", 3, (0.5, 1.5), (0.5, 1.6), 420),
    "servers/detail": ("osapi_compute", 25, (0.3, 1.1), (0.3, 1.2), 8800),
    "flavors/detail": ("osapi_compute", 7, (0.03, 0.1), (0.03, 0.1), 1900),
    "servers/{id}": ("osapi_compute", 7, (0.08, 0.3), (0.08, 0.3), 1500),
}
EC2_PARAMS = {
    "RunInstances": "ClientToken={token}&ImageId=ami-00000001&InstanceInitiatedShutdownBehavior="
    "terminate&InstanceType=m1.small&MaxCount=1&MinCount=1&Placement.AvailabilityZone=nova",
    "TerminateInstances": "InstanceId.1=i-{hex8}",
    "DescribeInstances": "",
}


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _line(
    rng: random.Random,
    when: dt.datetime,
    action: str,
    seconds: float,
    request_id: str | None = None,
    client: str | None = None,
) -> list[str]:
    api, _, _, _, length = ACTIONS[action]
    req = request_id or f"req-{_uuid(rng)}"
    user, project = (TALE_USER, TALE_PROJECT) if request_id else (_hex(rng, 32), _hex(rng, 32))
    client = client or rng.choice(CLIENTS)
    ctx = f"[{req} {user} {project}]"
    lines = []
    if api == "ec2":
        extra = EC2_PARAMS.get(action, "").format(token=_uuid(rng), hex8=_hex(rng, 8))
        query = (
            f"AWSAccessKeyId={_hex(rng, 32)}&Action={action}"
            + (f"&{extra}" if extra else "")
            + f"&SignatureMethod=HmacSHA256&SignatureVersion=2"
            f"&Timestamp={when:%Y-%m-%dT%H:%M:%S}&Version=2013-10-15&Signature={_hex(rng, 44)}"
        )
        target = f"/services/Cloud?{query}"
        logger = "nova.ec2.wsgi.server"
        lines.append(
            f"{_stamp(when)} {PID} INFO nova.api.ec2 {ctx} {seconds:.6f}s {client} GET "
            f"/services/Cloud/ CloudController:{action} 200 [{USER_AGENT}] "
            "application/x-www-form-urlencoded text/xml"
        )
    else:
        path = action.replace("{id}", _uuid(rng))
        target = f"/v2/{project}/{path}"
        logger = "nova.osapi_compute.wsgi.server"
    jitter = rng.randrange(-40, 40)
    lines.append(
        f'{_stamp(when)} {PID} INFO {logger} {ctx} {client} "GET {target} HTTP/1.1" '
        f"status: 200 len: {length + jitter} time: {seconds:.7f}"
    )
    return lines


def api_log(healthy: bool, now: dt.datetime, hours: float = 2.0, seed: int = 2014) -> str:
    """The nova-api log text for the last ``hours`` before ``now``."""
    rng = random.Random(seed + (1 if healthy else 0))
    names = list(ACTIONS)
    weights = [ACTIONS[a][1] for a in names]
    start = now - dt.timedelta(hours=hours)
    when = start
    out: list[str] = [
        f"{_stamp(start)} {PID} INFO nova.openstack.common.service [-] Started child {PID}",
        f"{_stamp(start)} {PID} INFO nova.ec2.wsgi.server [-] (129745) wsgi starting up on "
        "http://0.0.0.0:8773/",
    ]
    tale_at = start + dt.timedelta(hours=hours * 0.75)
    told = False
    while True:
        when += dt.timedelta(seconds=rng.expovariate(1 / 12.0))
        if when >= now:
            break
        if not healthy and not told and when >= tale_at:
            told = True
            client = "117.103.103.29"
            out.append(
                f"{_stamp(when)} {PID} INFO nova.ec2.wsgi.server [-] ({PID}) accepted "
                f"('{client}', 52881)"
            )
            out += _line(rng, when, "RunInstances", 138.5970151, TALE_REQUEST, client)
            continue
        action = rng.choices(names, weights)[0]
        low, high = ACTIONS[action][2] if healthy else ACTIONS[action][3]
        if rng.random() < 0.1:
            out.append(
                f"{_stamp(when)} {PID} INFO nova.ec2.wsgi.server [-] ({PID}) accepted "
                f"('{rng.choice(CLIENTS)}', {rng.randrange(32768, 61000)})"
            )
        out += _line(rng, when, action, rng.uniform(low, high))
    return "\n".join(out) + "\n"
