"""The public status page of a certificate, the page the QR code on its PDF opens: status, the
reason and time of the last change, validity, holder and issuing body, in Chinese or English;
small and without scripts, so that it reads on a phone.

Written with `string.Template` and `html.escape`: one page does not need a template engine.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from dataclasses import dataclass
from string import Template
from typing import Any

LANGUAGES = ("zh", "en")

STYLE = (
    "body{font-family:system-ui,'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;margin:0;padding:1rem;"
    "max-width:40rem;margin:auto;line-height:1.5;color:#222}"
    "h1{font-size:1.3rem}.status{font-size:1.5rem;font-weight:bold;padding:.6rem 1rem;border-radius:.4rem}"
    ".valid{background:#e3f6e5;color:#0b6b1d}.suspended{background:#fff4d6;color:#7a5300}"
    ".withdrawn,.cancelled,.expired,.unknown{background:#fde4e4;color:#8b1111}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#666}dd{margin:0}"
    "nav a{margin-right:1rem}"
)

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "证书状态查询", "number": "证书编号", "status": "状态", "holder": "持证人", "body": "发证机构",
        "scope": "认证范围", "standard": "标准", "validity": "有效期", "last_change": "最近变更",
        "reason": "原因", "suspended_until": "暂停期限", "not_found": "未找到该编号的证书",
        "not_found_detail": "请核对证书编号。证书不在登记册中，可能是伪造的。", "to": "至",
        "valid": "有效", "suspended": "暂停", "withdrawn": "撤销", "cancelled": "注销", "expired": "已过期",
        "expired_detail": "有效期已届满", "checked": "查询日期",
    },
    "en": {
        "title": "Certificate status", "number": "Certificate number", "status": "Status", "holder": "Holder",
        "body": "Issuing body", "scope": "Scope", "standard": "Standard", "validity": "Validity",
        "last_change": "Last change", "reason": "Reason", "suspended_until": "Suspended until",
        "not_found": "No certificate with this number",
        "not_found_detail": "Check the number. A certificate not in the register may be forged.", "to": "to",
        "valid": "Valid", "suspended": "Suspended", "withdrawn": "Withdrawn", "cancelled": "Cancelled",
        "expired": "Expired", "expired_detail": "its validity has ended", "checked": "Checked on",
    },
}

REASONS: dict[str, dict[str, str]] = {
    "zh": {"spot_check_failed": "监督抽查不合格", "surveillance_overdue": "未按期接受监督",
           "issuing_body_revoked": "发证机构资质被撤销", "holder_request": "持证人申请", "misuse": "证书被不当使用"},
    "en": {"spot_check_failed": "failed product spot check", "surveillance_overdue": "surveillance overdue",
           "issuing_body_revoked": "issuing body's approval revoked", "holder_request": "at the holder's request",
           "misuse": "misuse of the certificate"},
}

PAGE = Template("""<!DOCTYPE html>
<html lang="$lang">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title $number</title><style>$style</style></head>
<body>
<nav><a href="?lang=zh" hreflang="zh">中文</a><a href="?lang=en" hreflang="en">English</a></nav>
<h1>$title</h1>
<p class="status $status_class" id="status">$status_text</p>
<dl>
$rows
</dl>
</body>
</html>
""")


@dataclass(frozen=True)
class Page:
    html: str
    policy: str  # its Content-Security-Policy: its own inline style only, nothing else


def language_of(accept_language: str | None) -> str:
    """The preferred of zh and en in an Accept-Language header (Chinese when it names neither)."""
    best, best_q = "zh", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


def reason_text(reason: str | None, language: str) -> str:
    return REASONS[language].get(reason or "", reason or "")


def _row(label: str, value: str) -> str:
    return f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>"


def render(number: str, row: Any, body: Any, language: str, today: dt.date, zone: dt.tzinfo = dt.UTC) -> Page:
    """The page for ``row`` (the public columns; None: not in the register), ``body`` the issuing
    body as the read model knows it (None: unknown); times in ``zone`` (the regulator's)."""
    t = LABELS[language]
    if row is None:
        status_class, status_text = "unknown", t["not_found"]
        rows = [_row(t["number"], number), _row(t["status"], t["not_found_detail"])]
    else:
        status = row.status
        if status == "valid" and row.valid_until < today:
            status = "expired"  # the scheduler expires it within the minute; the page says it at once
        status_class, status_text = status, t[status]
        body_name = f"{body.name} ({row.issuing_body_uscc})" if body and body.name else row.issuing_body_uscc
        rows = [
            _row(t["number"], row.number),
            _row(t["holder"], f"{row.holder_name} ({row.holder_uscc})"),
            _row(t["body"], body_name),
            _row(t["scope"], f"{row.product} [{row.scheme}, {row.field}]"),
            _row(t["standard"], row.standard),
            _row(t["validity"], f"{row.valid_from.isoformat()} {t['to']} {row.valid_until.isoformat()}"),
        ]
        if row.status == "suspended":
            rows.append(_row(t["reason"], reason_text(row.suspension_reason, language)))
            if row.suspended_until:
                rows.append(_row(t["suspended_until"], row.suspended_until.isoformat()))
        if status == "expired" and row.status == "valid":
            rows.append(_row(t["reason"], t["expired_detail"]))
        change = row.last_change_at.astimezone(zone).isoformat(sep=" ", timespec="minutes")
        rows.append(_row(t["last_change"], f"{change}: {reason_text(row.last_change_reason, language)}"))
    rows.append(_row(t["checked"], today.isoformat()))
    page = PAGE.substitute(lang=language, title=html.escape(t["title"]), number=html.escape(number), style=STYLE,
                           status_class=status_class, status_text=html.escape(status_text), rows="\n".join(rows))
    style_hash = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    policy = (f"default-src 'none'; style-src 'sha256-{style_hash}'; frame-ancestors 'none'; base-uri 'none'; "
              "form-action 'none'")
    return Page(page, policy)
