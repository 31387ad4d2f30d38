"""WTForms for every POST in the panel (each carries the CSRF token) and the GET filter forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms < 3.3 takes plain pairs

    def SelectChoice(value: str, label: str) -> tuple[str, str]:  # noqa: N802 - stands in for the class
        return (value, label)


def choices(pairs) -> list:
    """Select options in the form the installed WTForms wants (tuples are deprecated from 3.3)."""
    return [SelectChoice(str(v), str(label)) for v, label in pairs]


ITEM_CODE = Regexp(r"^[A-Z]{1,6}-\d{3}$", message="事项编码格式应为 GA-001")


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class ActionForm(FlaskForm):
    """A button that changes something: the form exists for its CSRF token."""


class CallFilterForm(FlaskForm):
    class Meta:
        csrf = False  # GET filters change nothing

    date_from = DateField("开始日期", validators=[Optional()])
    date_to = DateField("结束日期", validators=[Optional()])
    outcome = SelectField("结果", validators=[Optional()], validate_choice=True)
    item = StringField("事项编码", validators=[Optional(), Length(max=32)])
    department = StringField("部门", validators=[Optional(), Length(max=80)])
    escalated = BooleanField("转人工")
    abandoned = BooleanField("放弃")
    low_confidence = BooleanField("低置信度")
    number = StringField("来电号码", validators=[Optional(), Regexp(r"^\+?\d{3,20}$", message="号码只能包含数字")])


class DateRangeForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DateField("开始日期", validators=[Optional()])
    date_to = DateField("结束日期", validators=[Optional()])


class TeachForm(FlaskForm):
    question = StringField("问题", validators=[DataRequired(), Length(max=200)])
    item_code = StringField("事项编码", validators=[DataRequired(), ITEM_CODE])
    kind = SelectField("方式", choices=choices([("alias", "作为别名"), ("faq", "作为常见问题")]))
    answer = TextAreaField("答案（常见问题必填）", validators=[Optional(), Length(max=1000)])


class AskForm(FlaskForm):
    question = StringField("问题", validators=[DataRequired(), Length(max=200)])


class CallbackForm(FlaskForm):
    status = SelectField("结果", choices=choices([("done", "已回电"), ("failed", "未接通")]))
    note = StringField("备注", validators=[Optional(), Length(max=500)])


class ItemForm(FlaskForm):
    name = StringField("事项名称", validators=[DataRequired(), Length(max=120)])
    aliases = TextAreaField("口语别名（每行一个）", validators=[Optional(), Length(max=4000)])
    conditions = TextAreaField("受理条件（每行一条）", validators=[Optional(), Length(max=8000)])
    steps = TextAreaField("办理流程（每行一步）", validators=[Optional(), Length(max=8000)])
    location = StringField("办理地点", validators=[Optional(), Length(max=120)])
    hours = StringField("办理时间（空 = 中心默认）", validators=[Optional(), Length(max=120)])
    phone = StringField("咨询电话（空 = 部门电话）", validators=[Optional(), Length(max=32)])
    legal_days = IntegerField("法定办结时限（工作日）", validators=[InputRequired(), NumberRange(min=0, max=999)])
    promised_days = IntegerField("承诺办结时限（工作日）", validators=[InputRequired(), NumberRange(min=0, max=999)])
    fee_charged = BooleanField("收费")
    fee_standard = StringField("收费标准", validators=[Optional(), Length(max=500)])
    weekend = BooleanField("双休日可办")
    bookable = BooleanField("可预约")
    self_service = BooleanField("自助机可办")
    citywide = BooleanField("全城通办")
    door_to_door = BooleanField("上门服务")
    sample_form = BooleanField("样表下载")
    online_full = BooleanField("全程网办")


class YamlForm(FlaskForm):
    text = TextAreaField("YAML", validators=[DataRequired(), Length(max=200_000)])
    department = SelectField("部门（新事项）", validators=[Optional()], validate_choice=False)


class DepartmentForm(FlaskForm):
    name = StringField("部门全称", validators=[DataRequired(), Length(max=120)])
    short_name = StringField("简称", validators=[DataRequired(), Length(max=40)])
    phone = StringField("咨询电话", validators=[Optional(), Length(max=32)])


class ImportForm(FlaskForm):
    archive = FileField("知识库 zip（centre.yaml、bundles.yaml、departments/*.yaml）",
                        validators=[FileRequired(), FileAllowed(["zip"], "只接受 zip 文件")])


SPREADSHEET_MAX_BYTES = 4 * 1024 * 1024  # ~10x a 500-item 办事指南; the app refuses any request over 5 MB anyway


class SpreadsheetForm(FlaskForm):
    sheet = FileField("办事指南表格（.xlsx 或 .csv）",
                      validators=[FileRequired(), FileAllowed(["xlsx", "csv"], "只接受 xlsx 或 csv 文件")])


class CapacityForm(FlaskForm):
    window = HiddenField(validators=[DataRequired(), Length(max=120)])
    capacity = IntegerField("每时段名额", validators=[InputRequired(), NumberRange(min=0, max=100)])


class OverrideForm(FlaskForm):
    day = DateField("日期", validators=[DataRequired()])
    is_workday = SelectField("类型", choices=choices([("0", "休息日（节假日）"), ("1", "工作日（调休上班）")]))
    note = StringField("说明", validators=[Optional(), Length(max=80)])


class UserCreateForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired(), Length(max=64)])
    display_name = StringField("姓名", validators=[Optional(), Length(max=64)])
    role = SelectField("角色", choices=choices([("agent", "坐席"), ("admin", "管理员")]))
    extension = StringField("分机", validators=[Optional(), Length(max=49)])
    password = PasswordField("密码（留空自动生成）", validators=[Optional(), Length(min=8, max=256)])


class ExtensionForm(FlaskForm):
    extension = StringField("分机", validators=[Optional(), Length(max=49)])


class LabelForm(FlaskForm):
    """One caller utterance's label: what was said and which item it was about (or out of scope)."""

    transcript = StringField("实际说的话", validators=[DataRequired(message="请填写来电人实际说的话"), Length(max=500)])
    item_code = StringField("事项编码", validators=[Optional(), Regexp(r"^\s*[A-Z]{1,6}-\d{3}\b.*$",
                                                                 message="事项编码格式应为 GA-001")])
    aspect = SelectField("问的方面", validators=[Optional()], validate_choice=True)
    out_of_scope = BooleanField("不在知识库范围")
