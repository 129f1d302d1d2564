"""The generic event source: formats, the shorthand, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triagehub.core.models import Status
from triagehub.errors import InputError
from triagehub.sources import detect_format
from triagehub.sources.events import parse_file

RUN_EVENT = {
    "source": "generic",
    "repository": "acme/dbt_cloud",
    "run": {
        "id": "8812",
        "attempt": 1,
        "commit": "3f2c1e9",
        "branch": "main",
        "url": "https://github.com/acme/dbt_cloud/actions/runs/8812",
        "started_at": "2026-11-20T06:30:00Z",
        "finished_at": "2026-11-20T06:41:00Z",
        "status": "failure",
    },
    "results": [
        {
            "check": "dbt build / stg_customers",
            "status": "fail",
            "message": "Got 5 results, configured to fail if != 0",
            "log": "line 1\nline 2",
            "duration_s": 3.2,
        },
        {"check": "dbt build / stg_orders", "status": "pass"},
    ],
}


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        list(parse_file(path))
    return info.value


def test_single_event_is_translated_to_a_run_report(tmp_path: Path) -> None:
    [report] = parse_file(_write(tmp_path, "e.json", json.dumps(RUN_EVENT, indent=2)))
    assert report.repository == "acme/dbt_cloud"
    assert report.run_id == "8812"
    assert report.commit == "3f2c1e9"
    assert report.finished_at is not None and report.finished_at.isoformat() == (
        "2026-11-20T06:41:00+00:00"
    )
    assert [r.status for r in report.results] == [Status.FAIL, Status.PASS]
    assert report.results[0].duration_s == 3.2


def test_array_and_json_lines_hold_several_events(tmp_path: Path) -> None:
    second = {**RUN_EVENT, "run": {**RUN_EVENT["run"], "id": "8813"}}  # type: ignore[dict-item]
    array = _write(tmp_path, "a.json", json.dumps([RUN_EVENT, second]))
    lines = _write(tmp_path, "l.jsonl", json.dumps(RUN_EVENT) + "\n\n" + json.dumps(second) + "\n")
    assert [r.run_id for r in parse_file(array)] == ["8812", "8813"]
    assert [r.run_id for r in parse_file(lines)] == ["8812", "8813"]


def test_shorthand_derives_a_stable_run_id_from_content(tmp_path: Path) -> None:
    event = {"repository": "acme/x", "check": "lint", "message": "E501 line too long", "log": "x"}
    path = _write(tmp_path, "s.json", json.dumps(event))
    first = list(parse_file(path))
    again = list(parse_file(path))
    assert first[0].run_id == again[0].run_id
    assert first[0].run_id.startswith("event-")
    assert first[0].results[0].status is Status.FAIL
    other = _write(tmp_path, "o.json", json.dumps({**event, "message": "E502"}))
    assert next(iter(parse_file(other))).run_id != first[0].run_id


def test_default_repository_fills_events_without_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "s.json", json.dumps({"check": "c", "message": "boom"}))
    [report] = parse_file(path, default_repository="acme/from-flag")
    assert report.repository == "acme/from-flag"


def test_event_files_are_recognised_by_content(tmp_path: Path) -> None:
    path = _write(tmp_path, "noext", json.dumps(RUN_EVENT))
    assert detect_format(path).name == "event"
    other = _write(tmp_path, "x.json", json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format(other)


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.jsonl", json.dumps(RUN_EVENT) + '\n{"repository": \n')
    err = _error(path)
    assert err.source == str(path)
    assert err.location == "line 2"
    assert "malformed JSON" in err.reason


def test_truncated_document_is_malformed(tmp_path: Path) -> None:
    text = json.dumps(RUN_EVENT, indent=2)
    err = _error(_write(tmp_path, "t.json", text[: len(text) // 2]))
    assert "malformed JSON" in str(err)


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    event = json.loads(json.dumps(RUN_EVENT))
    event["results"][0]["duration_s"] = "fast"
    err = _error(_write(tmp_path, "w.json", json.dumps(event)))
    assert err.location.endswith("results[0].duration_s")
    assert "expected a number" in err.reason


def test_missing_field_names_the_field(tmp_path: Path) -> None:
    event = json.loads(json.dumps(RUN_EVENT))
    del event["results"][1]["check"]
    err = _error(_write(tmp_path, "m.json", json.dumps(event)))
    assert err.location.endswith("results[1].check")
    assert "missing" in err.reason


def test_unknown_status_lists_the_valid_ones(tmp_path: Path) -> None:
    event = json.loads(json.dumps(RUN_EVENT))
    event["results"][0]["status"] = "exploded"
    err = _error(_write(tmp_path, "u.json", json.dumps(event)))
    assert err.location.endswith("results[0].status")
    assert "'exploded'" in err.reason and "pass, fail, error, skip, flaky" in err.reason


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    event = json.loads(json.dumps(RUN_EVENT))
    event["results"][0]["mesage"] = "typo"
    err = _error(_write(tmp_path, "f.json", json.dumps(event)))
    assert err.location.endswith("results[0].mesage")


def test_huge_message_is_refused_with_its_size(tmp_path: Path) -> None:
    event = {"repository": "acme/x", "check": "c", "message": "x" * (50 * 1024 * 1024)}
    err = _error(_write(tmp_path, "huge.json", json.dumps(event)))
    assert err.location.endswith("message")
    assert "50.0 MiB" in err.reason and "limit is 1 MiB" in err.reason


def test_non_utf8_file_names_the_byte(tmp_path: Path) -> None:
    raw = json.dumps({"repository": "acme/x", "check": "c", "message": "caf"}).encode()
    raw = raw.replace(b"caf", b"caf\xe9")
    err = _error(_write(tmp_path, "latin1.json", raw))
    assert "not valid UTF-8" in err.reason
    assert "byte" in err.location


def test_bad_repository_name_is_refused(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, "r.json", json.dumps({"repository": "nope", "check": "c"})))
    assert err.location.endswith("repository")
    assert "OWNER/NAME" in err.reason


def test_bad_time_is_refused(tmp_path: Path) -> None:
    event = json.loads(json.dumps(RUN_EVENT))
    event["run"]["finished_at"] = "yesterday"
    err = _error(_write(tmp_path, "time.json", json.dumps(event)))
    assert err.location.endswith("run.finished_at")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, "empty.json", "\n\n"))
    assert "empty" in err.reason


def test_not_an_event_is_refused(tmp_path: Path) -> None:
    err = _error(_write(tmp_path, "n.json", json.dumps([1, 2])))
    assert err.location.endswith("[0]")
    assert "expected an event object" in err.reason
