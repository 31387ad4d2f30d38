import json
import logging

import pytest

from hotline.logsetup import call_uuid_var, setup_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_call_uuid(capsys):
    setup_logging("json", "INFO")
    token = call_uuid_var.set("5b3c1d9e-0000-4000-8000-000000000001")
    try:
        logging.getLogger("ivr.session").info("回答 %s", "GA-001")
    finally:
        call_uuid_var.reset(token)
    logging.getLogger("ivr.session").warning("no call")
    lines = capsys.readouterr().err.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["call"] == "5b3c1d9e-0000-4000-8000-000000000001" and first["msg"] == "回答 GA-001"
    assert second["call"] == "-" and second["level"] == "WARNING"


def test_text_lines_are_one_per_event(capsys):
    setup_logging("text", "INFO")
    token = call_uuid_var.set("abc")
    try:
        logging.getLogger("x").info("hello")
    finally:
        call_uuid_var.reset(token)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[abc] hello" in err
