"""Settings are data with help text, and every one is documented (datasette's habit)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from api.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


@pytest.mark.parametrize("setting", [f.name for f in fields(Settings)])
def test_every_setting_is_documented_with_its_environment_variable(setting):
    field = {f.name: f for f in fields(Settings)}[setting]
    text = DOCS.read_text()
    assert f"`{field.metadata['env']}`" in text, f"add {field.metadata['env']} to docs/settings.md"
    assert field.metadata.get("help"), f"{setting} needs help text in api/settings.py"


def test_environment_overrides_defaults_and_explicit_values_override_environment(monkeypatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("LEDGER_CHECKPOINT_EVERY", "7")
    settings = Settings.from_env(checkpoint_key="explicit.key")
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.checkpoint_every == 7
    assert settings.checkpoint_key == "explicit.key"
    assert Settings.from_env(database_url="sqlite:///cli.db").database_url == "sqlite:///cli.db"
