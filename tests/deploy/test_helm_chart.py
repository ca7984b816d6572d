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
SERVICES = ("approval", "certificates", "notifications", "proficiency", "supervision")
PRINCIPALS = (*SERVICES, "operators", "dlq-replay")
CHECK = yaml.safe_load(CHECK_VALUES.read_text())
CHECK_PASSWORDS = CHECK["kafka"]["passwords"]
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


def weight(manifest: dict[str, Any]) -> int:
    return int(manifest["metadata"]["annotations"]["helm.sh/hook-weight"])


def job(manifests: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    [found] = [j for j in manifests["Job"] if component(j) == name]
    return found


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def of_services(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The services' manifests of a kind, not the portal's (no database, no Kafka)."""
    return [m for m in found if component(m) != "portal"]


def container_of(manifests: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    [deployment] = [d for d in manifests["Deployment"] if component(d) == name]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def manifests() -> dict[str, list[dict[str, Any]]]:
    return render()


def test_a_deployment_per_service_with_two_replicas_probed_on_health(manifests: dict) -> None:
    assert sorted(component(d) for d in manifests["Deployment"]) == sorted([*SERVICES, "portal"])
    deployments = {component(d): d for d in of_services(manifests["Deployment"])}
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
    for deployment in of_services(manifests["Deployment"]):
        name = component(deployment)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        sources = container["envFrom"]
        assert sources[0]["configMapRef"]["name"] == config["metadata"]["name"]
        [own] = (secrets[s["secretRef"]["name"]]["stringData"] for s in sources[1:])
        assert not any("JWT" in key or "SIGNING" in key for key in own)  # no service can mint a token
        assert own["CONFORMITY_DATABASE_URL"].endswith(f"/{name}")  # `{service}` replaced
        assert not any(key.startswith("CONFORMITY_KAFKA") for key in own)  # the Kafka Secret's, below
    own = secrets["rel-conformity-certificates"]["stringData"]
    assert own["CONFORMITY_DATABASE_URL"].startswith("postgresql+asyncpg://certificates:")  # its own URL


def test_each_service_signs_in_to_kafka_as_itself_with_its_password_from_the_kafka_secret(manifests: dict) -> None:
    [kafka] = [s for s in manifests["Secret"] if component(s) == "kafka"]
    assert not hook(kafka)  # the release's own: it stays for the pods
    # One key per principal, and not the admin's: no service pod can read it.
    assert sorted(kafka["stringData"]) == sorted(PRINCIPALS)
    assert kafka["stringData"] == {p: CHECK_PASSWORDS[p] for p in PRINCIPALS}
    for deployment in of_services(manifests["Deployment"]):
        name = component(deployment)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = env_of(container)
        assert env["CONFORMITY_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_PLAINTEXT"
        assert env["CONFORMITY_KAFKA_USERNAME"]["value"] == name
        assert env["CONFORMITY_KAFKA_PASSWORD"] == {
            "name": "CONFORMITY_KAFKA_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": kafka["metadata"]["name"], "key": name}}}


def test_no_password_appears_in_plain_text_in_a_deployment(manifests: dict) -> None:
    # Kafka's, the databases', the credential key's private part, the portal's session secret.
    passwords = [*CHECK_PASSWORDS.values(), "not-a-real-password", CHECK["credentials"]["signingKey"],
                 yaml.safe_load(CHECK["credentials"]["signingKey"])["d"], CHECK["portal"]["sessionSecret"]]
    for deployment in manifests["Deployment"]:
        text = yaml.safe_dump(deployment)
        assert not [p for p in passwords if p in text], component(deployment)
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for name, entry in env_of(container).items():
                if "PASSWORD" in name or "SECRET" in name or "SIGNING_KEY" in name:
                    assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], name
    # ...nor in a Job: the provisioning Job reads every password from a Secret too.
    for found in manifests["Job"]:
        assert not [p for p in passwords if p in yaml.safe_dump(found)], component(found)


def test_the_provisioning_job_runs_before_the_migrations_as_the_admin(manifests: dict) -> None:
    provision, migrate = job(manifests, "kafka-provision"), job(manifests, "migrate")
    assert hook(provision) == {"pre-install", "pre-upgrade"}
    # Helm runs hooks in order of weight, each Job to its end: topics and users, then schemas.
    assert weight(provision) < weight(migrate)
    [container] = provision["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["conformity", "kafka", "provision"]
    env = env_of(container)
    # The topic layout from values (config.kafka*).
    assert {k: env[k]["value"] for k in ("CONFORMITY_KAFKA_TOPIC_PARTITIONS", "CONFORMITY_KAFKA_REPLICATION_FACTOR",
                                          "CONFORMITY_KAFKA_MIN_INSYNC_REPLICAS")} == {
        "CONFORMITY_KAFKA_TOPIC_PARTITIONS": "6", "CONFORMITY_KAFKA_REPLICATION_FACTOR": "3",
        "CONFORMITY_KAFKA_MIN_INSYNC_REPLICAS": "2"}
    assert env["CONFORMITY_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_PLAINTEXT"
    assert env["CONFORMITY_KAFKA_BOOTSTRAP_SERVERS"]["value"].count(":9092") == 3
    # The admin's and every principal's password, from a hook Secret made just before it (on a
    # first install the release's own Secrets do not exist yet while pre-install hooks run).
    [secret] = [s for s in manifests["Secret"] if component(s) == "kafka-provision"]
    assert hook(secret) == {"pre-install", "pre-upgrade"} and weight(secret) < weight(provision)
    assert "hook-succeeded" in secret["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    wanted = {"CONFORMITY_KAFKA_ADMIN_PASSWORD": "admin",
              **{f"CONFORMITY_KAFKA_PASSWORD_{p.upper().replace('-', '_')}": p for p in PRINCIPALS}}
    for variable, principal in wanted.items():
        reference = env[variable]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"], variable
        assert secret["stringData"][reference["key"]] == CHECK_PASSWORDS[principal], variable


def test_a_service_per_deployment_selects_its_pods(manifests: dict) -> None:
    pods = {component(d): d["spec"]["template"]["metadata"]["labels"] for d in manifests["Deployment"]}
    services = {component(s): s for s in manifests["Service"]}
    assert sorted(services) == sorted([*SERVICES, "portal"])
    for name, service in services.items():
        assert service["spec"]["selector"].items() <= pods[name].items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        # ...and no other service's.
        assert not any(service["spec"]["selector"].items() <= pods[other].items() for other in pods if other != name)


def test_a_disruption_budget_per_service_keeps_one_replica(manifests: dict) -> None:
    pods = {component(d): d["spec"]["template"]["metadata"]["labels"] for d in manifests["Deployment"]}
    budgets = {component(p): p for p in manifests["PodDisruptionBudget"]}
    assert sorted(budgets) == sorted([*SERVICES, "portal"])
    for name, budget in budgets.items():
        assert budget["spec"]["minAvailable"] == 1
        assert budget["spec"]["selector"]["matchLabels"].items() <= pods[name].items()


def test_the_migration_job_is_a_pre_install_and_pre_upgrade_hook_for_every_service(manifests: dict) -> None:
    migrate = job(manifests, "migrate")
    assert hook(migrate) == {"pre-install", "pre-upgrade"}
    containers = migrate["spec"]["template"]["spec"]["containers"]
    assert sorted(c["command"][1] for c in containers) == list(SERVICES)
    assert all(c["command"][0] == "conformity-migrate" for c in containers)
    # Its database URLs come from a Secret made just before it, since on a first install the
    # release's own Secrets do not exist yet when pre-install hooks run.
    [secret] = [s for s in manifests["Secret"] if component(s) == "migrate"]
    assert hook(secret) == {"pre-install", "pre-upgrade"}
    assert weight(secret) < weight(migrate)
    for c in containers:
        reference = c["env"][-1]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        assert secret["stringData"][reference["key"]].endswith(f"/{c['command'][1]}")


def test_replicas_fit_under_postgresql_s_connections_even_during_a_rollout(manifests: dict) -> None:
    [config] = manifests["ConfigMap"]
    per_replica = int(config["data"]["CONFORMITY_DB_POOL_SIZE"]) + int(config["data"]["CONFORMITY_DB_MAX_OVERFLOW"])
    replicas = sum(d["spec"]["replicas"] + d["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
                   for d in of_services(manifests["Deployment"]))  # the portal holds no connection
    migrations = len(job(manifests, "migrate")["spec"]["template"]["spec"]["containers"])
    assert replicas * per_replica + migrations < POSTGRES_MAX_CONNECTIONS


def test_existing_secrets_are_read_and_none_is_written() -> None:
    rendered = render("--set", "secrets.create=false", "--set", "kafka.existingSecret=kafka-passwords",
                      "--set", "credentials.existingSecret=credential-key", "--set", "portal.existingSecret=portal-secrets",
                      *(arg for name in SERVICES for arg in ("--set", f"services.{name}.existingSecret={name}-credentials")))
    assert "Secret" not in rendered
    assert env_of(container_of(rendered, "certificates"))["CONFORMITY_CREDENTIAL_SIGNING_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "credential-key", "key": "signing-key"}}
    portal = env_of(container_of(rendered, "portal"))
    assert portal["CONFORMITY_SESSION_SECRET"]["valueFrom"] == {"secretKeyRef": {"name": "portal-secrets", "key": "session-secret"}}
    assert portal["CONFORMITY_OIDC_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "portal-secrets", "key": "client-secret", "optional": True}}
    for deployment in of_services(rendered["Deployment"]):
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        names = [s["secretRef"]["name"] for s in container["envFrom"][1:]]
        assert names == [f"{component(deployment)}-credentials"]
        assert env_of(container)["CONFORMITY_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "kafka-passwords", "key": component(deployment)}
    for c in job(rendered, "migrate")["spec"]["template"]["spec"]["containers"]:
        assert c["env"][-1]["valueFrom"]["secretKeyRef"] == {"name": f"{c['command'][1]}-credentials",
                                                             "key": "CONFORMITY_DATABASE_URL"}
    [provision] = job(rendered, "kafka-provision")["spec"]["template"]["spec"]["containers"]
    references = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in provision["env"] if "valueFrom" in e}
    assert references["CONFORMITY_KAFKA_ADMIN_PASSWORD"] == {"name": "kafka-passwords", "key": "admin"}
    assert references["CONFORMITY_KAFKA_PASSWORD_APPROVAL"] == {"name": "kafka-passwords", "key": "approval"}
    # The tools' users are made only if the Secret holds a password for them.
    assert references["CONFORMITY_KAFKA_PASSWORD_DLQ_REPLAY"] == {"name": "kafka-passwords", "key": "dlq-replay",
                                                                  "optional": True}


def test_without_secrets_from_the_chart_the_kafka_secret_must_be_named() -> None:
    done = helm_template("-f", str(CHECK_VALUES), "--set", "secrets.create=false",
                         *(arg for name in SERVICES for arg in ("--set", f"services.{name}.existingSecret={name}-credentials")))
    assert done.returncode != 0 and "kafka.existingSecret is required when secrets.create is false" in done.stderr


def test_a_disabled_service_has_nothing_rendered() -> None:
    rendered = render("--set", "services.proficiency.enabled=false")
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert sorted(component(m) for m in of_services(rendered[kind])) == ["approval", "certificates", "notifications",
                                                                             "supervision"]
    assert "proficiency" not in [c["name"] for c in job(rendered, "migrate")["spec"]["template"]["spec"]["containers"]]
    [kafka] = [s for s in rendered["Secret"] if component(s) == "kafka"]
    assert "proficiency" not in kafka["stringData"]


def test_without_a_database_url_or_an_issuer_the_chart_refuses_to_render() -> None:
    bare = helm_template()
    assert bare.returncode != 0
    assert "is required" in bare.stderr
    # (development passwords, so that the one value missing is the one named)
    no_database = helm_template("--set", "development=true", "--set", "security.oidcIssuer=https://id.example.org/realms/regulator")
    assert no_database.returncode != 0 and "database.url is required" in no_database.stderr
    no_issuer = helm_template("--set", "development=true", "--set-string", "database.url=postgresql+asyncpg://u:p@db/{service}")
    assert no_issuer.returncode != 0 and "security.oidcIssuer is required" in no_issuer.stderr


def bare_values(*args: str) -> subprocess.CompletedProcess[str]:
    """Rendered with what an install must set except the Kafka passwords."""
    return helm_template("--set-string", "database.url=postgresql+asyncpg://u:p@db/{service}",
                         "--set", "security.oidcIssuer=https://id.example.org/realms/regulator",
                         "--set", "credentials.existingSecret=credential-key",
                         "--set", f"credentials.publicBaseUrl={CHECK['credentials']['publicBaseUrl']}",
                         "--set", "portal.existingSecret=portal-secrets", "--set", f"portal.publicUrl={CHECK['portal']['publicUrl']}",
                         *args)


def test_without_kafka_passwords_the_chart_refuses_to_render_unless_for_development() -> None:
    # Production values carry no password: rendering fails, naming the missing one.
    no_passwords = bare_values()
    assert no_passwords.returncode != 0
    assert "kafka.passwords.admin is required" in no_passwords.stderr or \
        "kafka.passwords.approval is required" in no_passwords.stderr, no_passwords.stderr
    some = bare_values(*(arg for p in ("admin", "approval", "certificates", "notifications", "supervision")
                         for arg in ("--set", f"kafka.passwords.{p}=pw-{p}")))
    assert some.returncode != 0 and "kafka.passwords.proficiency is required" in some.stderr, some.stderr
    # A development installation gets the well-known development passwords, as compose does.
    development = bare_values("--set", "development=true")
    assert development.returncode == 0, development.stderr
    secrets = {component(m): m for m in yaml.safe_load_all(development.stdout) if m and m["kind"] == "Secret"}
    assert secrets["kafka"]["stringData"]["approval"] == "dev-kafka-approval"
    assert secrets["kafka-provision"]["stringData"]["admin"] == "dev-kafka-admin"


def test_the_brokers_are_only_reached_with_sasl() -> None:
    plaintext = helm_template("-f", str(CHECK_VALUES), "--set", "kafka.securityProtocol=PLAINTEXT")
    assert plaintext.returncode != 0
    assert "kafka.securityProtocol must be SASL_PLAINTEXT or SASL_SSL" in plaintext.stderr


def test_over_tls_the_services_and_the_provisioning_job_trust_the_brokers_ca() -> None:
    rendered = render("--set", "kafka.securityProtocol=SASL_SSL", "--set", "kafka.caSecret=kafka-ca")
    pods = [*(d["spec"]["template"]["spec"] for d in of_services(rendered["Deployment"])),
            job(rendered, "kafka-provision")["spec"]["template"]["spec"]]
    for pod in pods:
        [container] = pod["containers"]
        env = env_of(container)
        assert env["CONFORMITY_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        cafile = Path(env["CONFORMITY_KAFKA_SSL_CAFILE"]["value"])
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "kafka-ca"]
        assert cafile.parent == Path(mount["mountPath"]) and mount["readOnly"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "kafka-ca"]
        assert volume["secret"]["secretName"] == "kafka-ca"
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": cafile.name}]


# --- the certificates' credential key and public URL -------------------------------------------


def test_only_the_certificates_pods_read_the_credential_signing_key_from_its_secret(manifests: dict) -> None:
    [secret] = [s for s in manifests["Secret"] if component(s) == "credentials"]
    assert not hook(secret) and secret["stringData"] == {"signing-key": CHECK["credentials"]["signingKey"]}
    env = env_of(container_of(manifests, "certificates"))
    assert env["CONFORMITY_CREDENTIAL_SIGNING_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": secret["metadata"]["name"], "key": "signing-key"}}
    assert env["CONFORMITY_PUBLIC_BASE_URL"]["value"] == "https://certificates.example.org"
    for deployment in manifests["Deployment"]:
        if component(deployment) != "certificates":
            assert secret["metadata"]["name"] not in yaml.safe_dump(deployment), component(deployment)


def test_without_the_credential_key_or_public_url_the_chart_refuses_to_render_unless_for_development(
        tmp_path: Path) -> None:
    def with_key(key: str) -> subprocess.CompletedProcess[str]:
        values = tmp_path / "key.yaml"  # a JWK has commas, which --set would split
        values.write_text(yaml.safe_dump({"credentials": {"signingKey": key}}))
        return helm_template("-f", str(CHECK_VALUES), "-f", str(values))

    no_key = helm_template("-f", str(CHECK_VALUES), "--set", "credentials.signingKey=")
    assert no_key.returncode != 0
    assert "credentials.signingKey (or credentials.existingSecret) is required" in no_key.stderr
    no_url = helm_template("-f", str(CHECK_VALUES), "--set", "credentials.publicBaseUrl=")
    assert no_url.returncode != 0 and "credentials.publicBaseUrl is required" in no_url.stderr
    # A development key (kid dev-...), which the service would refuse to start with in production.
    dev_key = CHECK["credentials"]["signingKey"].replace("chart-check-not-a-real-key", "dev-certificates-1")
    development_key = with_key(dev_key)
    assert development_key.returncode != 0 and "is a development key (kid dev-certificates-1)" in development_key.stderr
    public_only = with_key(CHECK["credentials"]["signingKey"].replace(', "d": ', ', "p": '))
    assert public_only.returncode != 0 and "must be a private Ed25519 JWK" in public_only.stderr
    # development=true renders without them: the digital routes then answer 503.
    development = render("--set", "development=true", "--set", "credentials.signingKey=",
                         "--set", "credentials.publicBaseUrl=")
    env = env_of(container_of(development, "certificates"))
    assert "CONFORMITY_CREDENTIAL_SIGNING_KEY" not in env and "CONFORMITY_PUBLIC_BASE_URL" not in env
    assert not [s for s in development["Secret"] if component(s) == "credentials"]


# --- the portal -----------------------------------------------------------------------------------


def test_the_portal_s_replicas_share_one_session_secret_and_reach_the_services_through_their_services(
        manifests: dict) -> None:
    [deployment] = [d for d in manifests["Deployment"] if component(d) == "portal"]
    assert deployment["spec"]["replicas"] == 2
    container = container_of(manifests, "portal")
    assert container["command"][:3] == ["uvicorn", "--factory", "conformity_portal.app:create_app"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    env = env_of(container)
    assert env["CONFORMITY_PORTAL_URL"]["value"] == "https://portal.example.org"
    assert env["CONFORMITY_OIDC_CLIENT_ID"]["value"] == "conformity-portal"
    # One Secret for every replica: a session opened on one is good on another.
    [secret] = [s for s in manifests["Secret"] if component(s) == "portal"]
    assert env["CONFORMITY_SESSION_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": secret["metadata"]["name"], "key": "session-secret"}}
    assert secret["stringData"]["session-secret"] == CHECK["portal"]["sessionSecret"]
    services = {s["metadata"]["name"]: s for s in manifests["Service"]}
    for name in ("approval", "certificates", "supervision", "proficiency"):
        url = env[f"CONFORMITY_{name.upper()}_URL"]["value"]
        assert url == f"http://rel-conformity-{name}:80" and component(services[f"rel-conformity-{name}"]) == name
    # No database, no Kafka, no credential key: only the platform's ConfigMap besides its Secret.
    assert [list(s) for s in container["envFrom"]] == [["configMapRef"]]
    assert not any("KAFKA" in name or "DATABASE" in name for name in env)


def test_without_a_session_secret_or_public_url_the_portal_refuses_to_render_unless_for_development() -> None:
    no_secret = helm_template("-f", str(CHECK_VALUES), "--set", "portal.sessionSecret=")
    assert no_secret.returncode != 0
    assert "portal.sessionSecret (or portal.existingSecret) is required" in no_secret.stderr
    short = helm_template("-f", str(CHECK_VALUES), "--set", "portal.sessionSecret=too-short")
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
    no_url = helm_template("-f", str(CHECK_VALUES), "--set", "portal.publicUrl=")
    assert no_url.returncode != 0 and "portal.publicUrl is required" in no_url.stderr
    development = render("--set", "development=true", "--set", "portal.sessionSecret=", "--set", "portal.publicUrl=")
    [secret] = [s for s in development["Secret"] if component(s) == "portal"]
    assert secret["stringData"]["session-secret"].startswith("dev-")
    disabled = render("--set", "portal.enabled=false")
    assert not [m for kind in disabled.values() for m in kind
                if m["metadata"]["labels"].get("app.kubernetes.io/component") == "portal"]


def test_notifications_is_migrated_provisioned_and_signs_in_as_itself(manifests: dict) -> None:
    migrations = job(manifests, "migrate")["spec"]["template"]["spec"]["containers"]
    assert "notifications" in [c["command"][1] for c in migrations]
    [provision] = job(manifests, "kafka-provision")["spec"]["template"]["spec"]["containers"]
    assert "CONFORMITY_KAFKA_PASSWORD_NOTIFICATIONS" in env_of(provision)
    env = env_of(container_of(manifests, "notifications"))
    assert env["CONFORMITY_KAFKA_USERNAME"]["value"] == "notifications"
    assert env["CONFORMITY_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "notifications"
