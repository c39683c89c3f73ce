"""How the monitor's faust app is built for each way of keeping state after a restart.

Only built here, not run: running it is what tests/test_monitor.py does over the real
broker (rebuild mode). Changelog mode needs a real Kafka cluster (Tansu's end offsets
make changelog recovery unreliable), which cannot run here.
"""

from __future__ import annotations

from typing import Any

from casework.kafka import KafkaSettings
from services.monitor.entrypoints.streams import _pack, _unpack, build_app
from services.monitor.settings import GROUP_PREFIX


async def _ignore(*_: Any) -> None:
    return None


def _app(mode: str, tmp: str) -> Any:
    return build_app(
        kafka=KafkaSettings("127.0.0.1:1"),
        topics=["officeactions.review", "officeactions.review.dlq"],
        on_record=_ignore,
        state_recovery=mode,
        session_timeout_s=1.5,
        partitions=4,
        data_dir=tmp,
    )


def test_rebuild_mode_reads_from_the_start_in_a_new_group_each_time(tmp_path: Any) -> None:
    first, second = _app("rebuild", str(tmp_path)), _app("rebuild", str(tmp_path))
    assert first.conf.id != second.conf.id
    assert first.conf.id.startswith(f"{GROUP_PREFIX}-rebuild-")
    assert first.conf.consumer_auto_offset_reset == "earliest"
    assert first.conf.processing_guarantee.value == "at_least_once"
    assert not first.tables


def test_changelog_mode_keeps_a_stable_group_and_a_table(tmp_path: Any) -> None:
    app = _app("changelog", str(tmp_path))
    assert app.conf.id == GROUP_PREFIX
    assert "monitor-records" in app.tables
    assert app.tables["monitor-records"].partitions == 4


def test_a_stored_record_comes_back_unchanged() -> None:
    record = ("officeactions.notify.dlq", 3, 41, b"OA-1", b'{"a":1}', [("ce_id", b"x"), ("k", b"")])
    assert _unpack(_pack(*record)) == record
    assert _unpack(_pack("t", 0, 0, None, None, [])) == ("t", 0, 0, None, None, [])
