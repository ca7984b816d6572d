"""The development stack stays out of production: no service, nor the contract package,
imports it when it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformity_devstack.apps import APPS


@pytest.mark.parametrize("app", [a for a in APPS if not a.development], ids=lambda a: a.name)
def test_an_app_is_built_without_the_development_stack(app) -> None:  # noqa: ANN001
    module, factory = app.factory.split(":")
    probe = (
        "import sys, importlib\n"
        f"getattr(importlib.import_module({module!r}), {factory!r})()\n"
        "leaked = sorted(m for m in sys.modules if m.startswith('conformity_devstack'))\n"
        "print(','.join(leaked))\n"
    )
    env = {"CONFORMITY_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "CONFORMITY_DATABASE_URL": "sqlite+aiosqlite://",
           # As deployed: production, an issuer reached over https (nothing is fetched to build the app).
           "CONFORMITY_OIDC_ISSUER": "https://issuer.example", "CONFORMITY_SESSION_SECRET": "s" * 32}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"{app.name} imports {done.stdout.strip()} at run time"


def test_the_contract_package_does_not_import_the_development_stack() -> None:
    probe = (
        "import sys, pkgutil, importlib, conformity_shared\n"
        "for m in pkgutil.walk_packages(conformity_shared.__path__, 'conformity_shared.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('conformity_devstack'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


def test_only_development_apps_come_from_the_development_stack() -> None:
    assert [a.name for a in APPS if a.factory.startswith("conformity_devstack")] == [a.name for a in APPS if a.development]
