"""Sandbox helpers that need no running Asterisk: config rendering, mirror discovery, failed builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.sandbox import REPO_DIALPLANS, Sandbox, SandboxError, apt_mirror, asterisk_time_range, build, render


def test_render_replaces_only_marked_values():
    text = "port = 5038                 ; @install {AMI_PORT}\nbindaddr = 127.0.0.1\nx => a ; @install {A}:{B}\n"
    assert render(text, {"AMI_PORT": "15038", "A": "h", "B": "1"}) == "port = 15038\nbindaddr = 127.0.0.1\nx => h:1\n"


def test_render_unknown_parameter_is_an_error():
    with pytest.raises(SandboxError, match="NOPE"):
        render("a = 1 ; @install {NOPE}\n", {})


def test_repo_dialplans_render_completely(tmp_path: Path):
    sb = Sandbox(root=tmp_path, instance="t", sip_port=15070, ami_port=15038, agi_port=14573, audiosocket_port=19092)
    params = sb.params("s3cret")
    rendered = {p.name: render(p.read_text(encoding="utf-8"), params) for p in REPO_DIALPLANS.glob("*.conf")}
    assert {"extensions.conf", "pjsip.conf", "queues.conf", "manager.conf", "modules.conf", "asterisk.conf",
            "logger.conf", "rtp.conf"} <= set(rendered)
    for name, text in rendered.items():
        assert not re.search(r";\s*@install\s+\{", text), name
    assert "bind = 127.0.0.1:15070" in rendered["pjsip.conf"]
    assert "port = 15038" in rendered["manager.conf"]
    assert re.search(r"^AGI_PORT = 14573$", rendered["extensions.conf"], re.M)
    assert "astetcdir => /hotline/t/etc" in rendered["asterisk.conf"]
    assert "[directories](!)" not in rendered["asterisk.conf"]


def test_no_secret_is_committed():
    manager = (REPO_DIALPLANS / "manager.conf").read_text(encoding="utf-8")
    assert not re.search(r"^\s*secret\s*=", manager, re.M)
    pjsip = (REPO_DIALPLANS / "pjsip.conf").read_text(encoding="utf-8")
    assert not re.search(r"^\s*password\s*=", pjsip, re.M)


def test_mirror_from_deb822_sources(tmp_path: Path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_from_legacy_sources_list(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# comment\ndeb [arch=amd64] http://legacy.example/debian bookworm main\n")
    assert apt_mirror(tmp_path) == "http://legacy.example/debian"


def test_no_mirror_is_an_error(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(SandboxError):
        apt_mirror(tmp_path)


def test_failed_build_is_loud_and_leaves_nothing_behind(tmp_path: Path):
    root = tmp_path / "asterisk-sid"
    # Nothing listens on port 9: debootstrap fails at once. (Needs root and debootstrap, like the real build.)
    with pytest.raises(SandboxError, match="debootstrap"):
        build(root, mirror="http://127.0.0.1:9/debian", log=lambda _msg: None)
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


def _fake_chroot(root: Path) -> None:
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "usr" / "sbin" / "asterisk").touch()
    (root / "etc").mkdir()


def test_env_lines_hand_the_generated_ami_secret_to_hotline_serve(tmp_path: Path):
    import subprocess

    from hotline.config import load_settings
    from scripts.sandbox import env_lines

    sb = Sandbox(root=tmp_path, instance="t", ami_port=15038)
    lines = env_lines(sb)
    secret = sb.secret_file.read_text().strip()
    assert len(secret) >= 24 and oct(sb.secret_file.stat().st_mode & 0o777) == "0o600"
    assert env_lines(sb) == lines  # generated once, then reused
    # What scripts/run does: eval the lines in bash, then hotline reads HOTLINE_* from the environment.
    out = subprocess.run(["bash", "-c", 'eval "$1"; env | grep -E "^HOTLINE_(AMI_|RECORDING_DIR)"', "_", lines],
                         capture_output=True, text=True, check=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines())
    settings = load_settings(env=env)
    assert (settings.ami_port, settings.ami_user, settings.ami_secret) == (15038, "hotline", secret)
    # The IVR and the panel read recordings where this instance's Asterisk writes them (its RECORDING_DIR global).
    assert settings.recording_dir == sb.host_path(sb.recording_dir_in)
    assert settings.recording_dir == sb.host_path(sb.params(secret)["RECORDING_DIR"])


def test_install_config_copies_our_rendered_prompts_into_the_chroot(tmp_path: Path):
    from scripts.sandbox import install_config

    root, sounds = tmp_path / "root", tmp_path / "sounds"
    _fake_chroot(root)
    (sounds / "custom").mkdir(parents=True)
    (sounds / "custom" / "hotline-queue-periodic.wav").write_bytes(b"RIFF")
    (sounds / "README.md").write_text("not a sound")
    (sounds / ".rendered.json").write_text("{}")
    install_config(Sandbox(root=root, instance="t", sounds_dir=sounds))
    target = root / "usr" / "share" / "asterisk" / "sounds"
    assert (target / "custom" / "hotline-queue-periodic.wav").read_bytes() == b"RIFF"
    assert not (target / "README.md").exists() and not (target / ".rendered.json").exists()


@pytest.mark.parametrize(("spec", "field"), [("08:00-20:00", "08:00-20:00"), ("00:00-24:00", "*"),
                                             ("18:00-24:00", "18:00-23:59"), ("00:00-12:00", "00:00-12:00")])
def test_staffed_hours_become_a_time_field_asterisk_accepts(spec, field):
    """GotoIfTime refuses 24:00: a range to midnight must not silently turn the staffed branch off."""
    assert asterisk_time_range(spec) == field


def test_problems_a_test_causes_on_purpose_are_not_reported_later(tmp_path):
    """A fault-injection test declares the ERROR lines it causes; a later "no errors" check ignores those lines
    and only those, so the checks do not depend on the order tests run in."""
    from scripts.sandbox import boot_problems, expect_problems

    sb = Sandbox(root=tmp_path, instance="t")
    sb.log_file.parent.mkdir(parents=True, exist_ok=True)
    old = "[Dec  7 01:00:00] ERROR[1] res_pjsip.c: an old problem"
    sb.log_file.write_text(old + "\n")
    with expect_problems(sb), sb.log_file.open("a") as fh:
        fh.write("[Dec  7 01:00:01] ERROR[2] res_audiosocket.c: Connection reset by peer\n")
    with sb.log_file.open("a") as fh:
        fh.write("[Dec  7 01:00:02] ERROR[3] pbx.c: a new problem\n")
    assert boot_problems(sb) == [old, "[Dec  7 01:00:02] ERROR[3] pbx.c: a new problem"]
