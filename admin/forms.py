"""WTForms for every POST in the panel (each carries the CSRF token) and the GET filter forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

ITEM_CODE = Regexp(r"^[A-Z]{2,6}-\d{3}$", message="事项编码格式应为 GA-001")


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
    kind = SelectField("方式", choices=[("alias", "作为别名"), ("faq", "作为常见问题")])
    answer = TextAreaField("答案（常见问题必填）", validators=[Optional(), Length(max=1000)])


class AskForm(FlaskForm):
    question = StringField("问题", validators=[DataRequired(), Length(max=200)])


class CallbackForm(FlaskForm):
    status = SelectField("结果", choices=[("done", "已回电"), ("failed", "未接通")])
    note = StringField("备注", validators=[Optional(), Length(max=500)])
