"""Test-wide set-up: no network beyond loopback, a private data directory per session, and the
browser tests' chromium (one per test module)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import launched_browser

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# As reasoning.models.local sets it before llama.cpp loads; a test importing llama_cpp first would
# otherwise get OpenMP threads that spin, several times slower on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in _LOCAL_NAMES or host == "":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkBlocked(OSError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guard(address: object) -> None:
    if isinstance(address, tuple) and not _is_local(address[0]):
        raise NetworkBlocked(f"network access blocked in tests: {address[0]}")


def _connect(self: socket.socket, address: object) -> None:
    _guard(address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    _guard(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    if host is not None and not _is_local(host if isinstance(host, str) else str(host)):
        raise NetworkBlocked(f"DNS lookup blocked in tests: {host}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _getaddrinfo  # type: ignore[assignment]


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Nothing a test does lands in the user's real data directory."""
    os.environ["BUDGET_ARENA_DATA_DIR"] = str(tmp_path_factory.mktemp("budget-arena-data"))



@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium through Playwright, for one test module: skipped with the reason when it is
    missing, failed under CI (CI=true), where it must work (tests.support.require_browser)."""
    with launched_browser() as launched:
        yield launched
