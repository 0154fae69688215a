"""Why the engine wrote an audit entry, in Japanese and English.

Every audit entry the engine writes (:mod:`alerts.decision`, :mod:`alerts.lifecycle`,
:mod:`alerts.store`) carries a stable ``details["code"]`` and, when the text needs
figures, ``details["params"]``; its ``reason`` column keeps the English text for logs
and old readers. Entries written for a person (approved, declined, cancelled,
acknowledged) carry a ``staff_*`` code and the person's own words as the reason.

The console's API renders them (:func:`render`; ``dashboard/routers/alerts.py``):
``TEXTS[code][lang]`` are templates whose ``{name}`` placeholders come from
``params``; a placeholder of a ``TERMS`` kind (``basis``, ``role``) is looked up in
``TERMS[value][lang]`` first.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    # area decisions (alerts.decision)
    "evidence_opened": {"ja": "発令の根拠となる状況が生じました", "en": "evidence for a level"},
    "policy_applied": {
        "ja": "発令基準により承認なしで警戒レベル{level}としました",
        "en": "the written policy issues level {level} without approval",
    },
    "policy_lifted": {
        "ja": "発令基準により承認なしで解除しました",
        "en": "the written policy lifts this level without approval",
    },
    "approved_applied": {"ja": "承認により発効しました", "en": "approved"},
    "evidence_withdrawn": {
        "ja": "対応前に根拠がなくなったため取り下げました",
        "en": "the evidence went away before anyone acted",
    },
    "no_evidence": {"ja": "発令の根拠がありません", "en": "no evidence for a level"},
    "proposal_raise": {
        "ja": "警戒レベル{level}への引き上げを提案（{basis}）。{role}以上の{needed}人の承認が必要です",
        "en": "raise to level {level} ({basis}); needs {needed} person(s) with role {role} or above",
    },
    "proposal_lower": {
        "ja": "警戒レベル{level}への引き下げを提案（{basis}）。{role}以上の{needed}人の承認が必要です",
        "en": "lower to level {level} ({basis}); needs {needed} person(s) with role {role} or above",
    },
    "proposal_lift": {
        "ja": "解除を提案（{basis}）。{role}以上の{needed}人の承認が必要です",
        "en": "lift the issued level (all clear) ({basis}); "
        "needs {needed} person(s) with role {role} or above",
    },
    "proposal_verify": {
        "ja": "発令中のレベルの根拠が失われました。確認してください（{basis}）。"
        "{role}以上の{needed}人の承認が必要です",
        "en": "the evidence for the issued level is lost: verify ({basis}); "
        "needs {needed} person(s) with role {role} or above",
    },
    "reminded": {"ja": "警戒レベル{level}が承認を待っています", "en": "level {level} still awaits approval"},
    # staff notices and station alerts (alerts.lifecycle)
    "staff_only": {"ja": "職員向けの情報です（承認不要）", "en": "for staff only: no approval needed"},
    "no_approval_needed": {"ja": "承認は不要です", "en": "no approval needed"},
    "auto_level": {
        "ja": "警戒レベル{level}は承認なしで発信されます",
        "en": "level {level} goes out without approval",
    },
    "needs_approval": {
        "ja": "警戒レベル{level}には{role}以上の{needed}人の承認が必要です",
        "en": "level {level} needs approval by {needed} person(s) with role {role} or above",
    },
    "ended_before_approval": {
        "ja": "承認前に状況が終わりました。公開された情報はありません",
        "en": "the condition ended before approval; nothing was public",
    },
    "condition_ended": {"ja": "状況が終わりました（解除）", "en": "the condition has ended: all clear"},
    "station_offline": {
        "ja": "観測所が通信途絶中です。警報は維持します",
        "en": "the station is offline; alert kept",
    },
    "station_back": {"ja": "観測所からの受信が再開しました", "en": "the station reports again"},
    "level_fell": {"ja": "水位の段階が下がりました", "en": "the level fell"},
    "escalation_withdrawn": {
        "ja": "警戒レベル{pending}への引き上げの承認前に、レベル{level}に戻りました",
        "en": "the level fell back to {level} before escalation to {pending} was approved",
    },
    "level_back": {
        "ja": "レベル{level}に戻りました。却下した引き上げは再び提案されることがあります",
        "en": "the level is back at {level}: a rejected escalation may be asked again",
    },
    "stage_changed": {"ja": "水位の段階が変わりました", "en": "the stage changed"},
    "condition_gone": {"ja": "状況が終わりました", "en": "the condition ended"},
    "condition_rose": {"ja": "状況が以前より悪化しました", "en": "the condition rose above it"},
    # a person's decision: the reason is their own words
    "staff_approved": {"ja": "承認しました", "en": "approved"},
    "staff_declined": {"ja": "提案を見送りました", "en": "declined"},
    "staff_rejected": {"ja": "却下しました", "en": "rejected"},
    "staff_cancelled": {"ja": "取り消しました", "en": "cancelled"},
    "staff_acknowledged": {"ja": "確認しました", "en": "acknowledged"},
}

# values of placeholders that are words, not figures
TERMS: dict[str, dict[str, str]] = {
    "observed": {"ja": "観測", "en": "observed"},
    "forecast": {"ja": "予測", "en": "forecast"},
    "unverified": {"ja": "未確認の読み値", "en": "unverified"},
    "sensor_fault": {"ja": "センサー異常", "en": "sensor_fault"},
    "no_data": {"ja": "データなし", "en": "no_data"},
    "viewer": {"ja": "閲覧者", "en": "viewer"},
    "operator": {"ja": "操作担当", "en": "operator"},
    "approver": {"ja": "承認者", "en": "approver"},
    "admin": {"ja": "管理者", "en": "admin"},
}


def say(code: str, **params: Any) -> tuple[str, dict[str, Any]]:
    """The English reason and the details that name it: ``{"code": …, "params": …}``."""
    text = TEXTS[code]["en"].format(**{k: str(v) for k, v in params.items()})
    return text, ({"code": code, "params": params} if params else {"code": code})


def render(code: str, params: dict[str, Any] | None, lang: str) -> str:
    """A catalogue text in ``lang`` (``ja`` or ``en``), as the console renders it."""
    words = {k: TERMS.get(str(v), {}).get(lang, str(v)) for k, v in (params or {}).items()}
    return TEXTS[code][lang].format(**words)
