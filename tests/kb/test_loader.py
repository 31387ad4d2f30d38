from pathlib import Path

import pytest

from kb.loader import KBValidationError, load_dir, validate_dir
from tests.kb.sources import BUNDLES, DEPT, write_tree


def _problems(root: Path) -> list[str]:
    kb, problems = validate_dir(root)
    assert kb is None
    return [str(p) for p in problems]


def test_tiny_tree_loads(tiny_dir: Path) -> None:
    kb = load_dir(tiny_dir)
    assert [i.code for i in kb.items()] == ["GA-001", "GA-006"]
    assert kb.item("GA-001").department == "gaj"
    assert kb.item("GA-001").materials[1].name == "狂犬病免疫证明"
    assert kb.item("GA-006").hours == "" and kb.item("GA-006").faq == []
    assert kb.bundles[0].items == ["GA-006", "GA-001"]
    assert kb.centre["booking"] == ["可以预约未来五个工作日。"]


def test_packaged_data_is_valid(real_kb) -> None:
    assert len(real_kb.items()) >= 20
    assert real_kb.centre


def test_broken_yaml_reports_line(tmp_path: Path) -> None:
    root = write_tree(tmp_path, dept=DEPT.replace("    target: 个人\n", "    target: [个人\n", 1))
    problems = _problems(root)
    assert len(problems) == 1
    assert problems[0].startswith(f"{root / 'departments' / 'gaj.yaml'}:")
    assert ": (yaml): " in problems[0]


def test_unknown_field(tmp_path: Path) -> None:
    root = write_tree(tmp_path, dept=DEPT.replace("    target: 个人\n", "    target: 个人\n    colour: red\n", 1))
    path = root / "departments" / "gaj.yaml"
    line = DEPT.splitlines().index("    target: 个人") + 2
    assert _problems(root) == [
        f"{path}:{line}: items[0].colour: unknown field (accepted: code, name, target, conditions, materials, "
        "process, legal_days, promised_days, fee, location, online, delivery, tolerance, weekend, bookable, "
        "self_service, aliases, hours, phone, basis, faq, citywide, door_to_door, sample_form)"
    ]


def test_missing_required_and_wrong_type(tmp_path: Path) -> None:
    dept = DEPT.replace("    legal_days: 20\n", "", 1).replace("    promised_days: 7\n", "    promised_days: soon\n")
    root = write_tree(tmp_path, dept=dept)
    path = root / "departments" / "gaj.yaml"
    lines = dept.splitlines()
    first_item = lines.index('  - code: "GA-001"') + 1
    soon = lines.index("    promised_days: soon") + 1
    assert _problems(root) == [
        f"{path}:{first_item}: items[0].legal_days: required field is missing",
        f"{path}:{soon}: items[1].promised_days: expected a whole number, got text",
    ]


def test_duplicate_alias_across_items(tmp_path: Path) -> None:
    dept = DEPT.replace("aliases: [办居住证]", "aliases: [办居住证, 狗证]")
    root = write_tree(tmp_path, dept=dept)
    line = dept.splitlines().index("    aliases: [办居住证, 狗证]") + 1
    assert _problems(root) == [
        f"{root / 'departments' / 'gaj.yaml'}:{line}: items[1].aliases: duplicate alias '狗证', already used by GA-001"
    ]


def test_duplicate_code(tmp_path: Path) -> None:
    dept = DEPT.replace('code: "GA-006"', 'code: "GA-001"')
    root = write_tree(tmp_path, dept=dept, bundles=None)
    problems = _problems(root)
    assert len(problems) == 1
    assert "items[1].code: duplicate code 'GA-001', first at" in problems[0]


def test_bundle_pointing_at_missing_item(tmp_path: Path) -> None:
    bundles = BUNDLES.replace('"GA-001"]', '"GA-999"]')
    root = write_tree(tmp_path, bundles=bundles)
    line = bundles.splitlines().index('    items: ["GA-006", "GA-999"]') + 1
    assert _problems(root) == [f"{root / 'bundles.yaml'}:{line}: bundles[0].items: item 'GA-999' does not exist"]


def test_enum_and_department_file_name(tmp_path: Path) -> None:
    dept = DEPT.replace("form: 原件\n        copies: 1\n        required: true\n      - name: 狂犬病",
                        "form: 扫描件\n        copies: 1\n        required: true\n      - name: 狂犬病", 1)
    root = write_tree(tmp_path, dept=dept.replace("code: gaj", "code: police"))
    problems = _problems(root)
    assert any("department.code: 'police' must match the file name 'gaj'" in p for p in problems)
    assert any("items[0].materials[0].form: '扫描件' must be one of" in p for p in problems)


def test_load_dir_raises_with_every_problem(tmp_path: Path) -> None:
    dept = DEPT.replace("target: 个人", "target: 外星人")
    root = write_tree(tmp_path, dept=dept, bundles=BUNDLES.replace('"GA-001"]', '"GA-404"]'))
    with pytest.raises(KBValidationError) as info:
        load_dir(root)
    assert len(info.value.problems) == 3  # two bad targets, one missing bundle item
    assert "3 problem(s)" in str(info.value)
