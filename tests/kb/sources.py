"""A tiny KB source tree (one department, a bundle, centre facts) for loader/store/CLI tests."""

from __future__ import annotations

from pathlib import Path

DEPT = """\
department:
  code: gaj
  name: 杭州市公安局某区分局
  short_name: 公安
  phone: "0571-86909101"
items:
  - code: "GA-001"
    name: 养犬登记证核发
    aliases: [狗证, 犬证]
    target: 个人
    conditions: [犬只已注射狂犬疫苗]
    materials:
      - name: 居民身份证
        form: 原件
        copies: 1
        required: true
      - name: 狂犬病免疫证明
        form: 原件
        copies: 1
        required: true
    process: [提交申请, 窗口审核, 领取犬证]
    legal_days: 20
    promised_days: 0
    fee:
      charged: false
      standard: ""
    location: A区 13-15号窗口
    online:
      web: true
      mobile: true
      note: 浙里办搜索“犬类登记”
    delivery: [window, express_one_way]
    tolerance:
      allowed: false
      later_materials: []
    weekend: true
    bookable: true
    self_service: false
    faq:
      - q: 狗证要钱吗
        a: 首次登记不收费。
  - code: "GA-006"
    name: 居住证申领
    aliases: [办居住证]
    target: 个人
    conditions: [在本区居住满半年]
    materials:
      - name: 居民身份证
        form: 原件
        copies: 1
        required: true
    process: [提交申领, 领证]
    legal_days: 15
    promised_days: 7
    fee:
      charged: false
      standard: ""
    location: A区 1-4号窗口
    online:
      web: true
      mobile: false
    delivery: [window]
    tolerance:
      allowed: false
      later_materials: []
    weekend: true
    bookable: true
    self_service: true
"""

BUNDLES = """\
bundles:
  - code: "YJS-001"
    name: 新市民落户一件事
    aliases: [新市民一件事]
    window: "B区 30号"
    items: ["GA-006", "GA-001"]
    note: 一次提交，约5个工作日办结。
"""

CENTRE = """\
address: 杭州市某区民心路188号。
hours_weekday: 周一到周五，上午九点到十二点，下午一点半到五点。
parking: 地下停车场前两小时免费。
booking:
  - 可以预约未来五个工作日。
"""


def write_tree(root: Path, dept: str = DEPT, bundles: str | None = BUNDLES, centre: str = CENTRE) -> Path:
    (root / "departments").mkdir(parents=True, exist_ok=True)
    (root / "departments" / "gaj.yaml").write_text(dept, encoding="utf-8")
    if bundles is not None:
        (root / "bundles.yaml").write_text(bundles, encoding="utf-8")
    (root / "centre.yaml").write_text(centre, encoding="utf-8")
    return root
