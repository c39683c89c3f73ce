"""The shape of the code, checked: one skeleton in every service, pure domains, services that
do not import each other, one handler per consumed event type, one producer per event type,
and no module or function past its size without a reason written at its top.

Read from the source (ast), so a check fails on the file that breaks it, not at run time.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from casework.contract import EVENT_TYPES, READ_MODELS, SERVICES, EventData
from casework.dispatch import consumed_topics

ROOT = Path(__file__).resolve().parent.parent
# The services that publish (SERVICES) and those that only read (READ_MODELS): the same
# skeleton, pure domains and no imports between them, for both.
ALL_SERVICES = (*SERVICES, *READ_MODELS)
SERVICE_DIRS = {name: ROOT / "services" / name for name in ALL_SERVICES}
# Through casework's consumer and HANDLERS.
CONSUMING = ("intake", "review", "enforcement", "notify", *READ_MODELS)
WITH_USECASES = ("intake", "review", "enforcement", "notify")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# What a pure domain must not reach: stores, brokers, wikis, mail, HTTP, the network, time.
IO_MODULES = (
    "aiohttp",
    "aiokafka",
    "aiosmtplib",
    "aiosqlite",
    "asyncio",
    "faust",
    "httpx",
    "pymongo",
    "requests",
    "smtplib",
    "socket",
    "sqlite3",
    "subprocess",
    "casework.kafka",
    "casework.mediawiki",
    "casework.outbox",
    "casework.store",
    "casework.updates",
)


def _python_files(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_service_has_the_same_skeleton(service: str) -> None:
    folder = SERVICE_DIRS[service]
    wanted = [
        "__main__.py",
        "app.py",
        "settings.py",
        "domain/__init__.py",
        "entrypoints/__init__.py",
    ]
    if service in WITH_USECASES:
        wanted.append("usecases/__init__.py" if (folder / "usecases").is_dir() else "usecases.py")
    if service in CONSUMING:
        wanted.append("handlers.py")
    if (folder / "adapters").exists():
        wanted.append("adapters/__init__.py")
    missing = [name for name in wanted if not (folder / name).is_file()]
    assert not missing, f"services/{service} lacks {missing} (README, Layout)"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_a_domain_does_no_io(service: str) -> None:
    domain = SERVICE_DIRS[service] / "domain"
    found = [
        f"{_rel(path)}:{line} imports {name}"
        for path in _python_files(domain)
        for line, name in _imports(path)
        if any(name == io or name.startswith(f"{io}.") for io in IO_MODULES)
    ]
    assert not found, "a domain module reaches I/O:\n" + "\n".join(found)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_no_service_imports_another(service: str) -> None:
    found = [
        f"{_rel(path)}:{line} imports {name}"
        for path in _python_files(SERVICE_DIRS[service])
        for line, name in _imports(path)
        if name.startswith("services.") and name.split(".")[1] != service
    ]
    assert not found, "\n".join(found)


def test_the_kernel_imports_no_service() -> None:
    found = [
        f"{_rel(path)}:{line} imports {name}"
        for path in _python_files(ROOT / "casework")
        for line, name in _imports(path)
        if name == "services" or name.startswith("services.")
    ]
    assert not found, "\n".join(found)


def _size_reason(source: str) -> bool:
    head = source.splitlines()[:30]
    return any(line.lstrip().startswith("Size:") for line in head)


def _oversized() -> Iterator[str]:
    for folder in (ROOT / "casework", ROOT / "services"):
        for path in _python_files(folder):
            source = path.read_text(encoding="utf-8")
            if _size_reason(source):
                continue
            lines = len(source.splitlines())
            if lines > MAX_MODULE_LINES:
                yield f"{_rel(path)}: {lines} lines"
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        yield f"{_rel(path)}:{node.lineno} {node.name}: {length} lines"


def test_no_module_or_function_is_oversized_without_a_reason_at_its_top() -> None:
    found = list(_oversized())
    assert not found, (
        f"over {MAX_MODULE_LINES} lines per module or {MAX_FUNCTION_LINES} per function,"
        " with no 'Size: <why>' line at the top of the module:\n" + "\n".join(found)
    )


@pytest.mark.parametrize("service", CONSUMING)
def test_a_consuming_service_handles_each_type_once_and_consumes_what_its_table_implies(
    service: str,
) -> None:
    handlers = importlib.import_module(f"services.{service}.handlers").HANDLERS
    assert handlers, f"services/{service}/handlers.py has an empty HANDLERS"
    known = set(EVENT_TYPES.values())
    for event_type, handler in handlers.items():
        assert event_type in known, f"{service} handles {event_type!r}, not in the contract"
        assert callable(handler)
    # A dict has one handler per key; the same type under two keys would be two TYPE strings.
    types = [event_type.TYPE for event_type in handlers]
    assert len(types) == len(set(types))
    assert consumed_topics(handlers)
    app = (SERVICE_DIRS[service] / "app.py").read_text(encoding="utf-8")
    assert "consumed_topics(HANDLERS)" in app, (
        f"services/{service}/app.py must consume the topics its HANDLERS imply"
    )
    public = [
        node.targets[0].id if isinstance(node, ast.Assign) else node.target.id  # type: ignore[union-attr]
        for node in ast.parse((SERVICE_DIRS[service] / "handlers.py").read_text()).body
        if isinstance(node, ast.Assign | ast.AnnAssign)
    ]
    assert [name for name in public if not name.startswith("_")] == ["HANDLERS"]


def test_every_event_type_is_produced_by_exactly_one_service() -> None:
    producers: dict[str, str] = {}
    for type_name, model in EVENT_TYPES.items():
        assert model.PRODUCER in SERVICES, f"{type_name} names producer {model.PRODUCER!r}"
        producers[model.__name__] = model.PRODUCER
    # No service builds another's events: each event class is constructed only by its producer.
    found = []
    for service, folder in SERVICE_DIRS.items():
        for path in _python_files(folder):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    producer = producers.get(node.func.id)
                    if producer is not None and producer != service:
                        found.append(f"{_rel(path)}:{node.lineno} builds {node.func.id}")
    assert not found, "a service builds another service's event:\n" + "\n".join(found)
    assert all(issubclass(model, EventData) for model in EVENT_TYPES.values())
