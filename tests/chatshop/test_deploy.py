"""deploy/: the compose file, its environment example and the nginx configuration agree with each other
and with the settings chatshop reads. (Docker and nginx themselves are not run here: deploy/README.md
says what was checked with them.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatshop.settings import ENV_PREFIX, SECRET_KEYS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHATSHOP_SERVICES = ("chatshop-1", "chatshop-2")
PLACEHOLDER = re.compile(r"<[^<>]+>")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    found: dict[str, Any] = compose["services"]
    return found


def env_example(name: str) -> dict[str, str]:
    lines = (DEPLOY / name).read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_compose_runs_two_chatshops_on_one_postgresql_and_one_redis_behind_nginx(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "redis", "migrate", *CHATSHOP_SERVICES, "nginx"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"].startswith("redis:7")
    assert services["nginx"]["image"].startswith("nginx:")
    for name in CHATSHOP_SERVICES:
        chatshop = services[name]
        assert (DEPLOY / chatshop["build"]["context"] / chatshop["build"]["dockerfile"]).is_file()
        assert chatshop["env_file"] == "chatshop.env"
        # The schema is migrated once, by the one-shot service, before either starts
        assert chatshop["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert {"postgres", "redis"} <= set(chatshop["depends_on"])
        assert "/healthz" in " ".join(chatshop["healthcheck"]["test"])
        assert services["nginx"]["depends_on"][name] == {"condition": "service_healthy"}
    migrate = services["migrate"]
    assert migrate["command"][:3] == ["chatshop", "db", "upgrade"] and migrate["restart"] == "no"
    assert set(migrate["depends_on"]) == {"postgres"}


def test_the_environment_example_names_every_secret_chatshop_reads_and_holds_none(services: dict[str, Any]) -> None:
    example = env_example("chatshop.env.example")
    secrets = {f"{ENV_PREFIX}{section.upper()}__{key.upper()}" for section, key in SECRET_KEYS}
    assert secrets <= set(example), secrets - set(example)
    for name in secrets:
        assert PLACEHOLDER.fullmatch(example[name]), f"{name} must be a <placeholder>, not a value"
    # The database password appears only as a placeholder too, in both files that carry it
    assert PLACEHOLDER.search(example["CHATSHOP__DATABASE__URL"])
    assert PLACEHOLDER.fullmatch(env_example("postgres.env.example")["POSTGRES_PASSWORD"])
    assert services["postgres"]["env_file"] == "postgres.env"


def test_nginx_proxies_to_every_chatshop_service(services: dict[str, Any]) -> None:
    site_file = "/etc/nginx/conf.d/default.conf:ro"
    [mount] = [volume for volume in services["nginx"]["volumes"] if volume.endswith(site_file)]
    config = (DEPLOY / mount.split(":")[0]).read_text(encoding="utf-8")
    [upstream] = re.findall(r"upstream chatshop \{(.*?)\}", config, re.S)
    servers = re.findall(r"^\s*server\s+([^\s;]+)", upstream, re.M)
    assert sorted(servers) == [f"{name}:8000" for name in CHATSHOP_SERVICES]
    passes = re.findall(r"proxy_pass\s+([^;]+);", config)
    assert passes and set(passes) == {"http://chatshop"}
    # The systemd deployment's site proxies the same way, to one process per port
    site = (DEPLOY / "systemd" / "nginx-chatshop.conf").read_text(encoding="utf-8")
    assert re.findall(r"^\s*server\s+(127\.0\.0\.1:\d+)", site, re.M) == ["127.0.0.1:8001", "127.0.0.1:8002"]
    assert set(re.findall(r"proxy_pass\s+([^;]+);", site)) == {"http://chatshop"}
