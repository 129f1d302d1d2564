"""triagehub.yaml validation: errors name the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from triagehub.config import Secrets, load_settings
from triagehub.core.models import Kind, Level
from triagehub.demo.scenario import DEMO_CONFIG_YAML
from triagehub.errors import ConfigError


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "triagehub.yaml"
    path.write_text(text)
    return load_settings(path)


def _fail(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert info.value.file == str(tmp_path / "triagehub.yaml")
    return info.value


def test_the_brief_shaped_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "triagehub.yaml"
    path.write_text(DEMO_CONFIG_YAML)
    settings = load_settings(path)
    repo = settings.repository("acme/dbt_cloud")
    assert repo.priority_level is Level.CRITICAL
    rule = repo.rule_for(Kind.SCHEMA)
    assert rule is not None and rule[0] == "schema_errors" and rule[1].sla_hours == 4
    assert settings.escalation_triggers.high_volume_threshold == 5
    assert settings.repository("unknown/repo").priority_level is Level.MEDIUM


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    err = _fail(tmp_path, "repositories:\n  acme/a:\n    priority_levle: high\n")
    assert err.key_path == "repositories.acme/a.priority_levle"
    assert "unknown key" in err.reason


def test_wrong_type_names_its_path_and_the_expectation(tmp_path: Path) -> None:
    text = (
        "repositories:\n  acme/a:\n    automation_rules:\n      test_failures: {sla_hours: soon}\n"
    )
    err = _fail(tmp_path, text)
    assert err.key_path == "repositories.acme/a.automation_rules.test_failures.sla_hours"
    assert "number" in err.reason and "'soon'" in err.reason


def test_bad_priority_level_lists_the_choices(tmp_path: Path) -> None:
    err = _fail(tmp_path, "repositories:\n  acme/a: {priority_level: urgent}\n")
    assert err.key_path == "repositories.acme/a.priority_level"
    assert "critical" in err.reason


def test_unknown_rule_name_without_kinds_is_refused(tmp_path: Path) -> None:
    err = _fail(tmp_path, "repositories:\n  acme/a:\n    automation_rules:\n      odd: {}\n")
    assert "odd" in err.reason and "kinds" in err.reason


def test_custom_rule_with_kinds_is_accepted(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "repositories:\n  acme/a:\n    automation_rules:\n"
        "      slow_things: {kinds: [timeout], auto_assign: perf-team}\n",
    )
    rule = settings.repository("acme/a").rule_for(Kind.TIMEOUT)  # type: ignore[attr-defined]
    assert rule[1].auto_assign == "perf-team"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    err = _fail(tmp_path, "repositories:\n  acme/a: [\n")
    assert "line" in err.key_path
    assert "invalid YAML" in err.reason


def test_bad_repository_name_is_refused(tmp_path: Path) -> None:
    err = _fail(tmp_path, "repositories:\n  not-a-repo: {}\n")
    assert "owner/name" in err.reason


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_supersecretvalue")
    secrets = Secrets.from_env()
    assert "supersecret" not in repr(secrets) and "supersecret" not in str(secrets)
    assert secrets.github_token is not None
    assert secrets.github_token.get_secret_value() == "ghp_supersecretvalue"


def test_the_readme_configuration_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Configuration (`triagehub.yaml`)", 1)[1].split("```yaml", 1)[1]
    path = tmp_path / "triagehub.yaml"
    path.write_text(block.split("```", 1)[0])
    settings = load_settings(path)
    assert [r.name for r in settings.classification_rules] == [
        "oom-kills-are-infrastructure",
        "quarantined-e2e",
    ]
    assert settings.repository("acme/dbt_cloud").rule_for(Kind.TIMEOUT) is not None


# The configuration example of the design brief (../shared/DESIGN.md, "Configuration"), copied
# as written into tests/data/config/design-example.yaml.
DESIGN_EXAMPLE = Path(__file__).parent / "data" / "config" / "design-example.yaml"


def test_the_design_brief_s_configuration_example_loads_as_written(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, DESIGN_EXAMPLE.read_text(encoding="utf-8")))
    repo = settings.repository("acme/dbt_cloud")
    assert repo.priority_level is Level.CRITICAL
    assert {name: rule.auto_assign for name, rule in repo.automation_rules.items()} == {
        "schema_errors": "dbt-expert",
        "test_failures": "dbt-expert",
        "performance_issues": "snowflake-expert",
    }
    rule = repo.rule_for(Kind.SCHEMA)
    assert rule is not None and rule[1].escalate_after == 8
    triggers = settings.escalation_triggers
    assert (triggers.critical_response_time, triggers.cross_repo_correlation_threshold) == (4, 2)


def test_the_copied_example_is_still_the_design_brief_s() -> None:
    design = Path(__file__).resolve().parents[2] / "shared" / "DESIGN.md"
    if not design.exists():
        pytest.skip(f"{design} is absent: the shared material is not beside the repository")
    text = design.read_text(encoding="utf-8")
    section = text[text.index("## Configuration") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    block = section[start : section.index("```", start)]
    assert block == DESIGN_EXAMPLE.read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "triagehub.yaml"
    path.write_text(text)
    return path
