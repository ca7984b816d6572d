"""The chart (deploy/helm/conformity) as `helm template` renders it: what a cluster would be given.
The chart is not run on a cluster here; these check the facts of its manifests."""

from __future__ import annotations

import os
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "conformity"
CHECK_VALUES = CHART / "ci" / "check-values.yaml"
SERVICES = ("approval", "certificates", "proficiency", "supervision")
POSTGRES_MAX_CONNECTIONS = 100 - 3  # the default, less the connections reserved for superusers


def helm_template(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.environ["CONFORMITY_HELM"], "template", "rel", str(CHART), *args],
                          capture_output=True, text=True, timeout=120)


def render(*args: str) -> dict[str, list[dict[str, Any]]]:
    """Kind -> the manifests of that kind."""
    done = helm_template("-f", str(CHECK_VALUES), *args)
    assert done.returncode == 0, done.stderr
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for manifest in yaml.safe_load_all(done.stdout):
        if manifest:
            by_kind[manifest["kind"]].append(manifest)
    return by_kind


def component(manifest: dict[str, Any]) -> str:
    return manifest["metadata"]["labels"]["app.kubernetes.io/component"]


def hook(manifest: dict[str, Any]) -> set[str]:
    return set(manifest["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")) - {""}


@pytest.fixture(scope="module")
def manifests() -> dict[str, list[dict[str, Any]]]:
    return render()


def test_a_deployment_per_service_with_two_replicas_probed_on_health(manifests: dict) -> None:
    deployments = {component(d): d for d in manifests["Deployment"]}
    assert sorted(deployments) == list(SERVICES)
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"][:3] == ["uvicorn", "--factory", f"{name}.app:create_app"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, (name, probe)
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_settings_come_from_the_config_map_then_the_platform_and_service_secrets(manifests: dict) -> None:
    [config] = manifests["ConfigMap"]
    assert config["data"]["CONFORMITY_KAFKA_REPLICATION_FACTOR"] == "3"
    assert config["data"]["CONFORMITY_KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert config["data"]["CONFORMITY_KAFKA_TOPIC_PARTITIONS"] == "6"
    assert config["data"]["CONFORMITY_OIDC_ISSUER"] == "https://id.example.org/realms/regulator"
    assert config["data"]["CONFORMITY_ENV"] == "production"  # development keys and issuers are refused
    secrets = {s["metadata"]["name"]: s for s in manifests["Secret"] if not hook(s)}
    for deployment in manifests["Deployment"]:
        name = component(deployment)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        sources = container["envFrom"]
        assert sources[0]["configMapRef"]["name"] == config["metadata"]["name"]
        [own] = (secrets[s["secretRef"]["name"]]["stringData"] for s in sources[1:])
        assert not any("JWT" in key or "SIGNING" in key for key in own)  # no service can mint a token
        assert own["CONFORMITY_DATABASE_URL"].endswith(f"/{name}")  # `{service}` replaced
    own = secrets["rel-conformity-certificates"]["stringData"]
    assert own["CONFORMITY_DATABASE_URL"].startswith("postgresql+asyncpg://certificates:")  # its own URL
    assert (own["CONFORMITY_KAFKA_USERNAME"], own["CONFORMITY_KAFKA_PASSWORD"]) == ("certificates", "not-a-real-password")
    assert "CONFORMITY_KAFKA_USERNAME" not in secrets["rel-conformity-approval"]["stringData"]


def test_a_service_per_deployment_selects_its_pods(manifests: dict) -> None:
    pods = {component(d): d["spec"]["template"]["metadata"]["labels"] for d in manifests["Deployment"]}
    services = {component(s): s for s in manifests["Service"]}
    assert sorted(services) == list(SERVICES)
    for name, service in services.items():
        assert service["spec"]["selector"].items() <= pods[name].items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        # ...and no other service's.
        assert not any(service["spec"]["selector"].items() <= pods[other].items() for other in pods if other != name)


def test_a_disruption_budget_per_service_keeps_one_replica(manifests: dict) -> None:
    pods = {component(d): d["spec"]["template"]["metadata"]["labels"] for d in manifests["Deployment"]}
    budgets = {component(p): p for p in manifests["PodDisruptionBudget"]}
    assert sorted(budgets) == list(SERVICES)
    for name, budget in budgets.items():
        assert budget["spec"]["minAvailable"] == 1
        assert budget["spec"]["selector"]["matchLabels"].items() <= pods[name].items()


def test_the_migration_job_is_a_pre_install_and_pre_upgrade_hook_for_every_service(manifests: dict) -> None:
    [job] = manifests["Job"]
    assert hook(job) == {"pre-install", "pre-upgrade"}
    containers = job["spec"]["template"]["spec"]["containers"]
    assert sorted(c["command"][1] for c in containers) == list(SERVICES)
    assert all(c["command"][0] == "conformity-migrate" for c in containers)
    # Its database URLs come from a Secret made just before it, since on a first install the
    # release's own Secrets do not exist yet when pre-install hooks run.
    [secret] = [s for s in manifests["Secret"] if hook(s)]
    assert hook(secret) == {"pre-install", "pre-upgrade"}
    weight = lambda m: int(m["metadata"]["annotations"]["helm.sh/hook-weight"])  # noqa: E731
    assert weight(secret) < weight(job)
    for c in containers:
        reference = c["env"][-1]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        assert secret["stringData"][reference["key"]].endswith(f"/{c['command'][1]}")


def test_replicas_fit_under_postgresql_s_connections_even_during_a_rollout(manifests: dict) -> None:
    [config] = manifests["ConfigMap"]
    per_replica = int(config["data"]["CONFORMITY_DB_POOL_SIZE"]) + int(config["data"]["CONFORMITY_DB_MAX_OVERFLOW"])
    replicas = sum(d["spec"]["replicas"] + d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] for d in manifests["Deployment"])
    [job] = manifests["Job"]
    assert replicas * per_replica + len(job["spec"]["template"]["spec"]["containers"]) < POSTGRES_MAX_CONNECTIONS


def test_existing_secrets_are_read_and_none_is_written() -> None:
    rendered = render("--set", "secrets.create=false",
                      *(arg for name in SERVICES for arg in ("--set", f"services.{name}.existingSecret={name}-credentials")))
    assert "Secret" not in rendered
    for deployment in rendered["Deployment"]:
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        names = [s["secretRef"]["name"] for s in container["envFrom"][1:]]
        assert names == [f"{component(deployment)}-credentials"]
    [job] = rendered["Job"]
    for c in job["spec"]["template"]["spec"]["containers"]:
        assert c["env"][-1]["valueFrom"]["secretKeyRef"] == {"name": f"{c['command'][1]}-credentials",
                                                             "key": "CONFORMITY_DATABASE_URL"}


def test_a_disabled_service_has_nothing_rendered() -> None:
    rendered = render("--set", "services.proficiency.enabled=false")
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert sorted(component(m) for m in rendered[kind]) == ["approval", "certificates", "supervision"]
    [job] = rendered["Job"]
    assert "proficiency" not in [c["name"] for c in job["spec"]["template"]["spec"]["containers"]]


def test_without_a_database_url_or_an_issuer_the_chart_refuses_to_render() -> None:
    bare = helm_template()
    assert bare.returncode != 0
    assert "is required" in bare.stderr
    no_database = helm_template("--set", "security.oidcIssuer=https://id.example.org/realms/regulator")
    assert no_database.returncode != 0 and "database.url is required" in no_database.stderr
    no_issuer = helm_template("--set-string", "database.url=postgresql+asyncpg://u:p@db/{service}")
    assert no_issuer.returncode != 0 and "security.oidcIssuer is required" in no_issuer.stderr
