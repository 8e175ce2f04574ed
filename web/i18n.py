"""The staff's language: English or Chinese, chosen per user, else by the browser, else by the setting.

Texts of FlowDesk itself come from the gettext catalogues in web/translations (extracted and compiled by
the Makefile); texts of a process — its name, task and lane names, form labels, KPI names — come from
the package's own `locales/<locale>.yaml`, through the engine. Dates, times and numbers are formatted
per locale with Babel.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Blueprint, Flask, current_app, flash, g, has_request_context, redirect, request, url_for
from flask_babel import Babel, get_locale, gettext, refresh

from engine import EngineError, Translations, normalize_locale, settings

from .security import actor, current_actor, get_engine

LOCALES = ("en", "zh_CN")
# Babel (CLDR) knows Simplified Chinese as used in China as zh_Hans_CN: its catalogue and formats live there.
CATALOGUE_LOCALES = {"zh_CN": "zh_Hans_CN"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# How `when` shows a moment in each language: English keeps the compact form staff know.
DATETIME_PATTERNS = {"en": "EEE dd MMM y HH:mm", "zh": "y年M月d日 EEE HH:mm"}


def _supported(locale: str | None) -> str | None:
    chosen = normalize_locale(locale)
    if chosen in LOCALES:
        return chosen
    if chosen and chosen.split("_")[0] == "zh":
        return "zh_CN"
    if chosen and chosen.split("_")[0] == "en":
        return "en"
    return None


def select_locale() -> str:
    """The user's own choice, else the best the browser asks for, else FLOWDESK_DEFAULT_LOCALE."""
    if not has_request_context():
        return default_locale()
    who = current_actor()
    chosen = _supported(getattr(getattr(who, "user", None), "locale", None))
    if not chosen:
        chosen = _supported(request.accept_languages.best_match(["en", "zh-CN", "zh"])) or default_locale()
    g.flowdesk_locale = chosen
    return CATALOGUE_LOCALES.get(chosen, chosen)


def default_locale() -> str:
    return _supported(current_app.config.get("DEFAULT_LOCALE") or settings.get("FLOWDESK_DEFAULT_LOCALE")) or "en"


def locale_name() -> str:
    """This request's language as FlowDesk names it: `en` or `zh_CN`."""
    if has_request_context():
        get_locale()  # runs select_locale once per request
        return str(g.get("flowdesk_locale") or default_locale())
    return default_locale()


def babel_locale() -> str:
    locale = locale_name()
    return CATALOGUE_LOCALES.get(locale, locale)


def html_lang() -> str:
    """The BCP 47 tag for <html lang>: `en`, `zh-CN`."""
    return locale_name().replace("_", "-")


def format_when(value: datetime) -> str:
    locale = locale_name()
    pattern = DATETIME_PATTERNS.get(locale.split("_")[0], DATETIME_PATTERNS["en"])
    return babel_dates.format_datetime(value, pattern, locale=babel_locale())


def format_number(value: Any) -> str:
    return babel_numbers.format_decimal(value, locale=babel_locale())


def format_duration(seconds: float, *, threshold: float = 0.85) -> str:
    """A span of time in words of the user's language: `4 hours`, `4小时`."""
    return babel_dates.format_timedelta(seconds, threshold=threshold, locale=babel_locale())


def language_names() -> list[tuple[str, str]]:
    """(locale, its own name) of every language FlowDesk speaks, for the account page."""
    return [(code, Locale.parse(code).get_display_name(CATALOGUE_LOCALES.get(code, code)) or code)
            for code in LOCALES]


def process_texts(process_id: str, version: int | None = None) -> Translations | None:
    """The package's own texts in this request's language (cached per request); no version: the newest."""
    cache: dict[tuple[str, int | None], Translations | None] = g.setdefault("_process_texts", {})
    key = (process_id, version)
    if key not in cache:
        cache[key] = get_engine().translations(process_id, version, locale_name())
    return cache[key]


def process_name(process_id: str, default: str, version: int | None = None) -> str:
    texts = process_texts(process_id, version)
    return texts.process_name(default) if texts else default


def task_name(process_id: str, element_id: str, default: str, version: int | None = None) -> str:
    texts = process_texts(process_id, version)
    return texts.task(element_id, default) if texts else default


def error_message(err: EngineError) -> str:
    """An engine error in the user's language: its template looked up in the catalogue, then filled."""
    template = getattr(err, "template", None) or err.message
    params = getattr(err, "params", None) or {}
    if not has_request_context():
        return err.message
    try:
        return str(gettext(template, **params)) if params else str(gettext(template))
    except (KeyError, ValueError, TypeError):
        return err.message  # a translation whose placeholders do not fit: the engine's own words


def install(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(html_lang=html_lang, locale_name=locale_name, process_name=process_name,
                                 group_name=group_name,
                                 task_name=task_name, language_names=language_names)
    app.jinja_env.filters.update(number=format_number, duration=format_duration)
    app.register_blueprint(bp)


bp = Blueprint("i18n", __name__)


@bp.post("/account/language")
def choose_language() -> Any:
    """Keep the user's language on their account; the empty choice follows the browser again."""
    who = actor()
    chosen = request.form.get("locale") or None
    if chosen is not None and chosen not in LOCALES:
        flash(gettext("FlowDesk does not speak %(locale)s.", locale=chosen), "error")
        return redirect(url_for("auth.account"), 303)
    get_engine().set_user_locale(who.username, chosen)
    if has_request_context():
        refresh()  # this very response already speaks the new language
    flash(gettext("Language saved."), "success")
    return redirect(url_for("auth.account"), 303)


def task_form(task: Any) -> dict[str, Any]:
    """A task's form with its package's texts in this request's language."""
    texts = process_texts(task.process_id)
    return (texts.task_form(task.element_id, task.form) if texts else None) or task.form


def start_form(definition: Any) -> dict[str, Any]:
    """A process's start form with its package's texts in this request's language."""
    schema = definition.start_form or {"type": "object", "properties": {}}
    texts = process_texts(definition.process_id, definition.version)
    return (texts.start(schema) if texts else None) or schema


def group_name(group_id: str | None) -> str:
    """A group's name in this request's language (its id when the group is unknown)."""
    if not group_id:
        return ""
    names: dict[str, Any] | None = g.get("_group_names")
    if names is None:
        names = g._group_names = {grp.id: grp for grp in get_engine().groups()}
    group = names.get(group_id)
    return group.name_in(locale_name()) if group is not None else group_id
