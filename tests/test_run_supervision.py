"""`make run` keeps its children running: the backoff policy, the supervisor, the runner.

Real parts: the supervisor's children are real processes (``sh``, Python) started by
``deploy.stack.ChildProcess``, only its clock is the test's; the last test starts
``python -m deploy.run`` itself (Tansu broker behind the SASL gate, sandbox MediaWiki from
the pristine copy cache, SMTP sink, the five services), SIGKILLs a service's process group
and the broker's, and reads everything from the outside: /proc, /healthz, the Kafka
protocol, intake's API, the runner's console.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer

from casework.contract import SubmissionKind
from deploy.credentials import BusCredentials
from deploy.run import process_handle
from deploy.sandbox_wiki import SandboxWiki
from deploy.stack import REPO_ROOT, SERVICE_ORDER, ChildProcess, Ports
from deploy.supervisor import Backoff, History, Supervisor
from services.intake.entrypoints.examples import examples
from tests.fixtures.wiki import WIKI_CACHE
from tests.support import eventually, free_ports
from tests.test_intake_api import events_about

# --- the policy ------------------------------------------------------------------------------


def test_the_wait_doubles_from_half_a_second_and_stops_at_thirty() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.delay(100_000) == 30  # no overflow after days of crashing
    with pytest.raises(ValueError):
        backoff.delay(0)


def test_a_minute_up_makes_the_next_crash_a_first_one_again() -> None:
    history = History(Backoff())
    assert [history.crashed(up_for) for up_for in (3.0, 0.2, 59.9)] == [0.5, 1.0, 2.0]
    assert history.crashed(60.0) == 0.5
    assert history.crashed(1.0) == 1.0


def test_restarts_are_counted_over_ten_minutes_and_five_of_them_are_loud() -> None:
    history = History(Backoff())
    assert [history.restarted(t) for t in (0.0, 100.0, 200.0, 300.0)] == [1, 2, 3, 4]
    assert not history.keeps_dying(300.0)
    assert history.restarted(400.0) == 5
    assert history.keeps_dying(400.0)
    assert history.recent(750.0) == 3  # the ones at 0 and 100 s are out of the window
    assert not history.keeps_dying(750.0)
    assert history.recent(1000.1) == 0


@pytest.mark.parametrize(
    "settings",
    [{"initial": 0}, {"initial": 40}, {"factor": 0.5}, {"healthy_after": 0}, {"loud_after": 0}],
)
def test_a_policy_that_makes_no_sense_is_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**{**asdict(Backoff()), **settings})


# --- the supervisor over real processes, on the test's clock ----------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Console:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []


def supervise(
    child: ChildProcess, stop: threading.Event | None = None
) -> tuple[Supervisor, Clock, Console]:
    clock, console = Clock(), Console()
    supervisor = Supervisor(
        [process_handle(child)],
        stop or threading.Event(),
        clock=clock,
        out=console.out.append,
        err=console.err.append,
    )
    return supervisor, clock, console


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[ChildProcess]:
    child = ChildProcess(
        "sleeper", ["sh", "-c", "echo up; exec sleep 60"], dict(os.environ), tmp_path / "s.log"
    )
    child.start()
    try:
        yield child
    finally:
        child.stop(timeout=5)


def crash(child: ChildProcess) -> int:
    """SIGKILL the child's process group; return its pid once it has exited."""
    assert child.process is not None
    pid = child.process.pid
    os.killpg(pid, signal.SIGKILL)
    child.process.wait(timeout=10)
    return pid


async def test_a_child_that_exits_is_restarted_once_its_wait_is_over(
    sleeper: ChildProcess,
) -> None:
    async def said_up(times: int) -> bool:
        return sleeper.log_path.read_text().count("up\n") == times

    supervisor, clock, console = supervise(sleeper)
    await eventually(lambda: said_up(1), timeout=10, what="the first start's line")
    supervisor.step()
    assert console.err == [] and sleeper.running
    old = crash(sleeper)

    supervisor.step()
    assert console.err == [
        f"sleeper exited (exit -9); restarting in 0.5 s (log: {sleeper.log_path})"
    ]
    clock.now += 0.4
    supervisor.step()
    assert not sleeper.running  # its wait is not over
    clock.now += 0.1
    supervisor.step()
    assert sleeper.running and sleeper.process is not None and sleeper.process.pid != old
    assert console.out == ["restarted sleeper (exit -9) after 0.5 s; 1 restart in the last 10 min"]
    await eventually(lambda: said_up(2), timeout=10, what="the restart's line, appended")

    clock.now += 60  # a minute up: the next crash waits half a second again
    crash(sleeper)
    supervisor.step()
    assert console.err[-1].startswith("sleeper exited (exit -9); restarting in 0.5 s")


def test_a_child_that_keeps_dying_is_retried_with_growing_waits_and_said_loudly(
    tmp_path: Path,
) -> None:
    child = ChildProcess(
        "crasher", ["sh", "-c", "echo oops; exit 3"], dict(os.environ), tmp_path / "c.log"
    )
    child.start()
    supervisor, clock, console = supervise(child)
    waits = []
    try:
        for _ in range(6):
            assert child.process is not None
            child.process.wait(timeout=10)
            supervisor.step()
            [due] = supervisor.waiting().values()
            waits.append(due - clock.now)
            clock.now = due
            supervisor.step()
    finally:
        child.stop(timeout=5)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert console.out == [
        f"restarted crasher (exit 3) after {w:.1f} s; {n} restart{'s' if n > 1 else ''} "
        "in the last 10 min"
        for n, w in enumerate(waits[:4], start=1)
    ]
    loud = [line for line in console.err if line.startswith("WARNING")]
    assert len(loud) == 2  # the fifth and the sixth restart
    assert "restarted crasher (exit 3) after 8.0 s; 5 restarts in the last 10 min" in loud[0]
    assert "crasher KEEPS DYING; still retrying" in loud[0]
    assert "  | oops" in loud[0]  # the end of its log


def test_a_child_that_cannot_start_again_is_tried_again_later(sleeper: ChildProcess) -> None:
    supervisor, clock, console = supervise(sleeper)
    crash(sleeper)
    supervisor.step()
    sleeper.argv = [str(Path("/nonexistent/binary"))]
    clock.now += 0.5
    supervisor.step()
    assert not sleeper.running
    assert console.err[-1].startswith("sleeper did not start again (")
    assert console.err[-1].endswith("next try in 1.0 s")
    sleeper.argv = ["sleep", "60"]
    clock.now += 1.0
    supervisor.step()
    assert sleeper.running
    assert console.out == ["restarted sleeper (exit -9) after 1.0 s; 1 restart in the last 10 min"]


def test_nothing_is_restarted_once_stopping(sleeper: ChildProcess) -> None:
    stop = threading.Event()
    supervisor, clock, console = supervise(sleeper, stop)
    crash(sleeper)
    supervisor.step()
    stop.set()
    clock.now += 60
    supervisor.step()
    supervisor.run()  # returns at once: stop is set
    assert not sleeper.running
    assert console.out == []


# --- `make run` itself ------------------------------------------------------------------------


def descendants(root: int) -> dict[int, str]:
    """Every live (not zombie) process below ``root``, with its command line (Linux /proc)."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            children.setdefault(int(ppid), []).append(int(entry.name))
            commands[int(entry.name)] = command
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = commands[pid]
        todo.extend(children.get(pid, []))
    return found


def pid_of(runner: int, marker: str) -> int | None:
    return next((p for p, cmd in descendants(runner).items() if marker in cmd), None)


def alive(pid: int, command: str) -> bool:
    """``pid`` still runs ``command`` (a zombie or a reused pid does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and now == command


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_environment(ports: Ports) -> dict[str, str]:
    """The variables `Ports.from_environment` reads: INTAKE_PORT, …, INTAKE_MAIL_PORT."""
    return {f"{part.upper()}_PORT": str(port) for part, port in asdict(ports).items()}


async def healthy(http: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
            return reply.status == 200
    except aiohttp.ClientError:
        return False


async def broker_signs_in(bootstrap: str, credentials: BusCredentials) -> bool:
    """The broker answers a client that signs in as ops with the password of the first start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        request_timeout_ms=3000,
        **credentials.settings(bootstrap).client_options(),
    )
    try:
        await consumer.start()
        await consumer.topics()
        return True
    except Exception:
        return False
    finally:
        await consumer.stop()


def start_runner(env: dict[str, str], console: Path) -> subprocess.Popen[bytes]:
    """``python -m deploy.run`` as `make run` starts it, its console kept in ``console``."""
    with console.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


@pytest.mark.e2e
@pytest.mark.timeout(90)
async def test_make_run_restarts_a_killed_service_and_the_broker_and_ctrl_c_stops_it_all(
    sandbox_wiki: SandboxWiki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sandbox_wiki: the pristine wiki is in WIKI_CACHE, so the runner copies it, not builds it.
    ports = free_ports()
    secrets = tmp_path / "secrets"
    credentials = BusCredentials(secrets)
    monkeypatch.setenv("CASEWORK_SECRETS_DIR", str(secrets))  # for events_about's client
    env = {
        **os.environ,
        **port_environment(ports),
        "CASEWORK_DATA_DIR": str(tmp_path / "data"),
        "CASEWORK_SECRETS_DIR": str(secrets),
        "CASEWORK_WIKI_CACHE": str(WIKI_CACHE),
        "KAFKA_SESSION_TIMEOUT_MS": "1500",
    }
    console = tmp_path / "console.txt"
    launched = time.monotonic()
    runner = start_runner(env, console)
    seen: dict[int, str] = {}
    try:

        async def up() -> bool:
            assert runner.poll() is None, console.read_text(encoding="utf-8", errors="replace")
            return "pipeline is up" in console.read_text(encoding="utf-8", errors="replace")

        await eventually(up, timeout=45, what="the runner's banner")
        print(f"make run up in {time.monotonic() - launched:.1f} s")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:

            async def every_service_healthy() -> bool:
                return all([await healthy(http, ports.of(name)) for name in SERVICE_ORDER])

            await eventually(every_service_healthy, timeout=10, what="every /healthz")
            intake, gate = pid_of(runner.pid, "services.intake"), pid_of(runner.pid, "kafka_gate")
            assert intake is not None and gate is not None
            seen.update(descendants(runner.pid))
            started = time.monotonic()
            os.killpg(intake, signal.SIGKILL)
            os.killpg(gate, signal.SIGKILL)

            async def back() -> bool:
                new_intake = pid_of(runner.pid, "services.intake")
                new_gate = pid_of(runner.pid, "kafka_gate")
                return (
                    new_intake not in (None, intake)
                    and new_gate not in (None, gate)
                    and await healthy(http, ports.intake)
                    and await broker_signs_in(f"127.0.0.1:{ports.broker}", credentials)
                )

            await eventually(back, timeout=30, what="intake and the broker back", interval=0.2)
            recovered = time.monotonic() - started
            text = console.read_text(encoding="utf-8", errors="replace")
            assert "restarted intake (exit -9) after 0.5 s; 1 restart in the last 10 min" in text
            assert "restarted broker (exit -9) after 0.5 s; 1 restart in the last 10 min" in text

            body = examples(f"http://127.0.0.1:{ports.wiki}")[SubmissionKind.REQUEST]
            key = {"Idempotency-Key": f"supervision-{uuid.uuid4()}"}
            url = f"http://127.0.0.1:{ports.intake}/api/v1/requests"
            async with http.post(url, json=body, headers=key) as reply:
                assert reply.status == 202, await reply.text()
                reference = (await reply.json())["reference"]
        # Intake signed in to the restarted broker as itself and published the submission.
        await eventually(
            lambda: events_about(f"127.0.0.1:{ports.broker}", reference),
            timeout=20,
            what="the submission's event on the restarted broker",
        )
        print(f"intake and the broker back in {recovered:.1f} s")

        seen.update(descendants(runner.pid))
        interrupted = time.monotonic()
        runner.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(runner.wait, 40) == 0
        print(f"make run stopped {time.monotonic() - interrupted:.1f} s after SIGINT")
        text = console.read_text(encoding="utf-8", errors="replace")
        assert text.rstrip().endswith("stopped"), text[-2000:]
        assert "restarted" not in text.split("stopping…")[1]

        async def all_gone() -> bool:
            left = [cmd for pid, cmd in seen.items() if alive(pid, cmd)]
            return not left and not any(listening(port) for port in asdict(ports).values())

        await eventually(all_gone, timeout=10, what="every child gone and every port closed")
    finally:
        if runner.poll() is None:
            seen.update(descendants(runner.pid))
            runner.send_signal(signal.SIGINT)
            try:
                runner.wait(30)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()
        for pid, command in seen.items():
            if alive(pid, command):
                os.kill(pid, signal.SIGKILL)
