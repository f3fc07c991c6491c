"""Settings are data with help text, every one documented (datasette's habit), and checked when built:
a value the ledger cannot run with is one line naming its variable, never a traceback later."""

from __future__ import annotations

import re
from dataclasses import fields, replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.settings import Settings, SettingsError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
FIELDS = {f.name: f for f in fields(Settings)}
ENV = {f.metadata["env"]: f for f in fields(Settings)}
INTEGERS = [name for name, f in FIELDS.items() if f.type == "int"]


def documented_rows() -> dict[str, list[str]]:
    """The settings table of docs/settings.md: environment variable -> its cells."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and re.fullmatch(r"`LEDGER_[A-Z_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells
    return rows


@pytest.mark.parametrize("setting", list(FIELDS))
def test_every_setting_is_documented_with_its_environment_variable_and_checked(setting):
    field = FIELDS[setting]
    assert field.metadata["env"] in documented_rows(), f"add {field.metadata['env']} to docs/settings.md"
    assert field.metadata.get("help"), f"{setting} needs help text in api/settings.py"
    assert callable(field.metadata.get("check")), f"{setting} needs a check in api/settings.py"


def test_the_documented_defaults_and_bounds_are_the_code_s():
    rows = documented_rows()
    assert set(rows) == set(ENV), "docs/settings.md lists a setting the code does not have"
    for env, cells in rows.items():
        field, check = ENV[env], ENV[env].metadata["check"]
        assert check(env, cells[1].strip("`")) == field.default, f"{env}: docs/settings.md gives another default"
        bounds = re.fullmatch(r"(\d+) to (\d+)", cells[3])
        if bounds:
            assert (int(bounds[1]), int(bounds[2])) == (check.low, check.high), f"{env}: documented bounds differ"


def test_environment_overrides_defaults_and_explicit_values_override_environment(monkeypatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("LEDGER_CHECKPOINT_EVERY", "7")
    monkeypatch.setenv("LEDGER_CHECKPOINT_SECONDS", "2.5")
    settings = Settings.from_env(checkpoint_key="explicit.key")
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.checkpoint_every == 7 and settings.checkpoint_seconds == 2.5
    assert settings.checkpoint_key == "explicit.key"
    assert Settings.from_env(database_url="sqlite:///cli.db").database_url == "sqlite:///cli.db"
    assert Settings.from_env(worker_timeout=None).worker_timeout == 60


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("LEDGER_CHECKPOINT_EVERY", "abc", "LEDGER_CHECKPOINT_EVERY must be a positive integer, not 'abc'"),
        ("LEDGER_CHECKPOINT_EVERY", "0", "LEDGER_CHECKPOINT_EVERY must be a positive integer, not '0'"),
        ("LEDGER_MAX_BATCH_ENVELOPES", "-5", "LEDGER_MAX_BATCH_ENVELOPES must be a positive integer, not '-5'"),
        ("LEDGER_MAX_BATCH_ENVELOPES", "5000000", "LEDGER_MAX_BATCH_ENVELOPES must be at most 100000, not '5000000'"),
        ("LEDGER_MAX_ENVELOPE_BYTES", "1.5", "LEDGER_MAX_ENVELOPE_BYTES must be a positive integer, not '1.5'"),
        ("LEDGER_WORKER_TIMEOUT", "86400", "LEDGER_WORKER_TIMEOUT must be at most 3600, not '86400'"),
        ("LEDGER_CHECKPOINT_SECONDS", "nan", "LEDGER_CHECKPOINT_SECONDS must be a positive number of seconds, "
                                             "not 'nan'"),  # fmt: skip
        ("LEDGER_CHECKPOINT_SECONDS", "-1", "LEDGER_CHECKPOINT_SECONDS must be a positive number of seconds, not '-1'"),
        ("LEDGER_ORIGIN", "my log", "LEDGER_ORIGIN must be non-empty text without spaces, control characters or '+', "
                                    "not 'my log'"),  # fmt: skip
        ("LEDGER_ORIGIN", "log\nforged line", "LEDGER_ORIGIN must be non-empty text without spaces, control "
                                              "characters or '+', not 'log\\nforged line'"),  # fmt: skip
        ("LEDGER_ORIGIN", "", "LEDGER_ORIGIN must be non-empty text without spaces, control characters or '+', not ''"),
        ("LEDGER_DATABASE_URL", "postgresql://clerk:s3cret@db\n", "LEDGER_DATABASE_URL must be a non-empty value on "
                                                                  "one line without control characters"),  # fmt: skip
        ("LEDGER_CHECKPOINT_KEY", "  ", "LEDGER_CHECKPOINT_KEY must be a non-empty value on one line without control "
                                        "characters"),  # fmt: skip
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, env, value, message):
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert str(refused.value) == message and "\n" not in str(refused.value)


def test_values_given_in_code_are_checked_too():
    with pytest.raises(SettingsError, match="LEDGER_CHECKPOINT_EVERY must be a positive integer, not 0"):
        Settings(checkpoint_every=0)
    with pytest.raises(SettingsError, match="LEDGER_MAX_BATCH_BYTES must be a positive integer, not True"):
        Settings(max_batch_bytes=True)
    with pytest.raises(SettingsError, match="LEDGER_ORIGIN"):
        replace(Settings(), origin="a+b")
    assert replace(Settings(), checkpoint_every=10, checkpoint_seconds=1e9).checkpoint_every == 10


def test_a_long_bad_value_is_shortened_in_the_message(monkeypatch):
    monkeypatch.setenv("LEDGER_CHECKPOINT_EVERY", "x" * 500)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert len(str(refused.value)) < 140 and str(refused.value).endswith("...")


@given(setting=st.sampled_from(INTEGERS), number=st.integers(min_value=-(10**12), max_value=10**12))
def test_an_integer_setting_takes_exactly_the_numbers_within_its_bounds(setting, number):
    check = FIELDS[setting].metadata["check"]
    allowed = check.low <= number and (check.high is None or number <= check.high)
    for given_as in (number, str(number)):
        try:
            settings = Settings(**{setting: given_as})
        except SettingsError as refused:
            assert not allowed and FIELDS[setting].metadata["env"] in str(refused)
        else:
            assert allowed and getattr(settings, setting) == number


@given(setting=st.sampled_from(INTEGERS), text=st.text(max_size=20).filter(lambda t: not any(c.isdigit() for c in t)))
def test_text_without_a_digit_is_never_taken_for_a_number(setting, text):
    with pytest.raises(SettingsError, match=FIELDS[setting].metadata["env"]):
        Settings(**{setting: text})


@given(origin=st.text(min_size=1, max_size=30))
def test_an_origin_is_refused_exactly_when_it_could_break_a_checkpoint_line(origin):
    breaks = not origin.isprintable() or any(c.isspace() or c == "+" for c in origin)
    try:
        assert Settings(origin=origin).origin == origin and not breaks
    except SettingsError:
        assert breaks
