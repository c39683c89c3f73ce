"""`CASEWORK_DEMO_OIDC=1 make run`: the sandbox identity provider as one of make run's children
(deploy/oidc_provider.py's demo_provider, started by deploy/run.py before review).

The setting is strict, `make run` installs Node and the pinned package only when it is on, and
the provider started the way run.py starts it serves discovery for review's callback, with a
client secret, cookie key and signing key kept under the data directory across restarts (a
restarted provider's tokens still verify against what review cached).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.oidc_provider import (
    DEMO_CLIENT_ID,
    ProviderError,
    demo_enabled,
    demo_port,
    demo_provider,
    node_command,
)
from deploy.stack import REPO_ROOT, StackError
from tests.support import free_port, missing_part


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_the_setting_is_off_by_default_and_strict() -> None:
    assert demo_enabled({}) is False
    assert demo_enabled({"CASEWORK_DEMO_OIDC": "0"}) is False
    assert demo_enabled({"CASEWORK_DEMO_OIDC": "1"}) is True
    assert demo_enabled({"CASEWORK_DEMO_OIDC": " True "}) is True
    with pytest.raises(StackError, match="CASEWORK_DEMO_OIDC: must be 1 or 0"):
        demo_enabled({"CASEWORK_DEMO_OIDC": "maybe"})
    assert demo_port({}) == 8091
    with pytest.raises(StackError, match="OIDC_PORT: must be a port number"):
        demo_port({"OIDC_PORT": "99999"})


@pytest.mark.parametrize("flag", ["", "1"])
def test_make_run_installs_the_provider_only_when_it_is_asked_for(
    tmp_path: Path, flag: str
) -> None:
    if shutil.which("make") is None:
        pytest.fail("make is not installed: `make test` itself needs it")
    env = {**os.environ, "CASEWORK_DEMO_OIDC": flag}
    # -W: as if the lockfile had just changed, so the answer does not depend on whether
    # this checkout's deploy/oidc/node_modules is already installed (make test installs it).
    commands = subprocess.run(
        ["make", "-n", "-W", "deploy/oidc/package-lock.json", "run", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    wanted = "npm ci --prefix deploy/oidc" in commands
    assert wanted == (flag == "1"), commands
    assert ("install-debian.sh node" in commands) == (flag == "1"), commands


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    try:
        node_command(tmp_path / "probe.json")
    except ProviderError as exc:
        missing_part(f"the sandbox identity provider: {exc}")
    yield tmp_path / "var"


def test_the_demo_provider_serves_review_and_keeps_its_keys_across_restarts(
    data_dir: Path,
) -> None:
    port, review_port = free_port(), free_port()
    demo = demo_provider(port, review_port, data_dir, data_dir / "logs")
    secret_file = data_dir / "keys" / "oidc-review-client.secret"
    assert demo.review_environment == {
        "REVIEW_OIDC_ISSUER": f"http://127.0.0.1:{port}",
        "REVIEW_OIDC_CLIENT_ID": DEMO_CLIENT_ID,
        "REVIEW_OIDC_CLIENT_SECRET": secret_file.read_text(encoding="utf-8"),
    }
    config_file = data_dir / "oidc" / "oidc-provider.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600, "the config holds secrets"
    client = json.loads(config_file.read_text(encoding="utf-8"))["clients"][0]
    assert client["redirect_uris"] == [f"http://127.0.0.1:{review_port}/console/oidc/callback"]
    assert client["post_logout_redirect_uris"] == [f"http://127.0.0.1:{review_port}/console/login"]

    demo.process.start()
    try:
        demo.wait_ready()
        discovery = get_json(f"{demo.issuer}/.well-known/openid-configuration")
        assert discovery["issuer"] == demo.issuer
        first_keys = get_json(discovery["jwks_uri"])["keys"]
    finally:
        demo.process.stop()

    again = demo_provider(port, review_port, data_dir, data_dir / "logs")
    assert again.review_environment == demo.review_environment, "the secret is kept"
    again.process.start()
    try:
        again.wait_ready()
        assert get_json(f"{again.issuer}/jwks")["keys"] == first_keys, "the signing key is kept"
    finally:
        again.process.stop()
    assert "oidc-provider listening" in (data_dir / "logs" / "oidc.log").read_text()
