"""deploy/: the compose file, the image and the ClickHouse configs agree with each other and
with the code. No Docker engine runs here, so these are the checks that need none: the
files parse, everything they reference exists, and the names match."""

from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from pricewatch.cli import build_parser
from pricewatch.settings import PREFIX, Settings
from pricewatch.storage.redis import parse_cluster_url

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
REPO = DEPLOY.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _services(compose: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if n.startswith(prefix)}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Bind mounts of files from deploy/: container path -> host path."""
    found = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("./"):
            found[container] = host
    return found


def _xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def setting_names() -> set[str]:
    """Every environment variable pricewatch/settings.py reads."""
    names = {PREFIX + n for n in ("DATA_DIR", "CLICKHOUSE_URL", "DATABASE_URL", "PROXY_FILE")}
    for field in dataclasses.fields(Settings):
        names.add(PREFIX + (field.metadata.get("env") or field.name.upper()))
    return names


def test_every_pricewatch_role_has_a_service(compose: dict[str, Any]) -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    roles = set(commands) - {"migrate", "up", "import-csv", "track", "backup", "restore", "roles"}
    assert roles == {"ingest", "api", "alerts", "scheduler"}
    services = compose["services"]
    for role in roles:
        assert services[role]["command"] == [role]
    assert services["migrate"]["command"] == ["migrate"]
    # the crawler is Scrapy's command, run from the same image
    crawler = services["crawler"]
    command = [*crawler["entrypoint"], *crawler["command"]]
    assert command == ["python", "-m", "scrapy", "crawl", "product"]
    assert crawler["deploy"]["replicas"] >= 2
    # the roles start once the schema is there and the Redis Cluster has formed
    for name in (*roles, "crawler"):
        conditions = {k: v["condition"] for k, v in services[name]["depends_on"].items()}
        assert conditions == {
            "migrate": "service_completed_successfully",
            "redis-cluster-init": "service_completed_successfully",
        }


def test_environment_names_are_real_settings(compose: dict[str, Any]) -> None:
    known = setting_names()
    assert PREFIX + "CLICKHOUSE_CLUSTER" in known
    seen = set()
    for name, service in compose["services"].items():
        for variable in service.get("environment") or {}:
            if variable.startswith(PREFIX):
                assert variable in known, f"{name}: {variable} is not a setting"
                seen.add(variable)
    assert {PREFIX + "CLICKHOUSE_URL", PREFIX + "CLICKHOUSE_CLUSTER", PREFIX + "REDIS_URL"} <= seen
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        variable = line.partition("=")[0]
        if variable.startswith(PREFIX):
            assert variable in known, f".env.example: {variable}"


def test_the_roles_reach_the_cluster_the_configs_define(compose: dict[str, Any]) -> None:
    env = compose["services"]["api"]["environment"]
    cluster = env[PREFIX + "CLICKHOUSE_CLUSTER"]
    remote = _xml(DEPLOY / "clickhouse/config.d/cluster.xml").find("remote_servers")
    assert remote is not None and remote.find(cluster) is not None
    host = re.match(r"http://[^@]+@([\w-]+):8123/\w+$", env[PREFIX + "CLICKHOUSE_URL"])
    assert host is not None and host.group(1) in compose["services"]
    assert env[PREFIX + "DATABASE_URL"].startswith("postgresql+asyncpg://")
    # every master of the compose file's Redis Cluster is a startup node
    redis_url = parse_cluster_url(env[PREFIX + "REDIS_URL"])
    masters = {name for name in compose["services"] if re.fullmatch(r"redis-\d+", name)}
    assert len(masters) >= 3 and {host for host, _ in redis_url.nodes} == masters
    assert compose["services"]["api"]["environment"][PREFIX + "API_HOST"] == "0.0.0.0"


def test_referenced_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for host in _mounts(service).values():
            assert (DEPLOY / host).is_file(), f"{name}: {host}"
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        words = shlex.split(line)
        if not words[1].startswith("--from"):
            for source in words[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies a missing {source}"


def test_xml_configs_are_well_formed() -> None:
    files = sorted((DEPLOY / "clickhouse").rglob("*.xml"))
    assert len(files) >= 7
    for path in files:
        assert _xml(path).tag == "clickhouse", path


def test_every_node_has_its_own_macros_and_a_place_in_the_cluster(compose: dict[str, Any]) -> None:
    nodes = _services(compose, "clickhouse-")
    assert len(nodes) == 4
    cluster = _xml(DEPLOY / "clickhouse/config.d/cluster.xml").find("remote_servers/pricewatch")
    assert cluster is not None
    shards = cluster.findall("shard")
    assert len(shards) == 2
    placed: dict[str, str] = {}
    for number, shard in enumerate(shards, start=1):
        assert shard.findtext("internal_replication") == "true"
        for replica in shard.findall("replica"):
            placed[replica.findtext("host") or ""] = f"{number:02d}"
            assert replica.findtext("port") == "9000"
            assert replica.find("password").get("from_env") == "CLICKHOUSE_PASSWORD"  # type: ignore[union-attr]
    assert set(placed) == set(nodes)
    replicas = set()
    for name, service in nodes.items():
        mounts = _mounts(service)
        assert service["hostname"] == name
        macros = _xml(DEPLOY / mounts["/etc/clickhouse-server/config.d/macros.xml"])
        assert macros.findtext("macros/shard") == placed[name], name
        replicas.add(macros.findtext("macros/replica"))
        assert "/etc/clickhouse-server/config.d/cluster.xml" in mounts
        assert "/etc/clickhouse-server/users.d/pricewatch.xml" in mounts
    # unique across the cluster: the migration history is one table on every node
    assert replicas == set(nodes)


def test_keeper_ensemble_matches_the_servers_view_of_it(compose: dict[str, Any]) -> None:
    keepers = _services(compose, "keeper-")
    assert len(keepers) == 3
    config = _xml(DEPLOY / "clickhouse/keeper/keeper_config.xml")
    raft = {
        s.findtext("hostname"): s.findtext("id")
        for s in config.findall("keeper_server/raft_configuration/server")
    }
    assert raft == {
        name: service["environment"]["KEEPER_SERVER_ID"] for name, service in keepers.items()
    }
    port = config.findtext("keeper_server/tcp_port")
    zookeeper = _xml(DEPLOY / "clickhouse/config.d/cluster.xml").findall("zookeeper/node")
    assert {(n.findtext("host"), n.findtext("port")) for n in zookeeper} == {
        (name, port) for name in keepers
    }


def test_redis_cluster_of_three_masters_is_created_once(compose: dict[str, Any]) -> None:
    nodes = _services(compose, "redis-")
    init = nodes.pop("redis-cluster-init")
    assert len(nodes) == 3
    for node in nodes.values():
        assert "--cluster-enabled yes" in node["command"]
    command = init["command"]
    assert "redis-cli --cluster create" in command and "--cluster-replicas 0" in command
    for name in nodes:
        assert f"getent hosts {name} " in command
    assert init["restart"] == "no"
