"""The forms' shapes: what the user typed, kept to re-render it after a refusal, and the
request body it becomes. No rule is checked here: the services judge, the portal only shapes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

@dataclass
class ApplyForm:
    """The application form as the agency filled it: kept to re-render it after a refusal."""

    path: str
    kind: str
    organisation_name: str
    requested: list[str]
    staff: dict[str, str]
    registered_capital_rmb: str
    premises: str
    management_system: str
    commitment_text: str

    @classmethod
    def empty(cls, path: str, kind: str) -> ApplyForm:
        path = path if path in ("commitment", "standard") else "commitment"
        kind = kind if kind in ("certification_body", "testing_lab") else "certification_body"
        return cls(path, kind, "", [], {}, "", "", "", "")

    @classmethod
    def read(cls, data: FormData) -> ApplyForm:
        form = cls.empty(str(data.get("path", "")), str(data.get("kind", "")))
        form.organisation_name = str(data.get("organisation_name", "")).strip()
        form.requested = [str(code) for code in data.getlist("requested_fields")]
        form.staff = {key.removeprefix("staff-"): str(value).strip() for key, value in data.items()
                      if key.startswith("staff-") and str(value).strip()}
        for name in ("registered_capital_rmb", "premises", "management_system", "commitment_text"):
            setattr(form, name, str(data.get(name, "")).strip())
        return form

    def body(self, organisation_uscc: str) -> dict[str, Any]:
        """The body of `POST /applications`: the services' rules judge it, the portal only shapes it."""
        declared: dict[str, Any] = {
            "staff_per_field": {code: whole(self.staff[code]) for code in self.requested if code in self.staff},
            "premises": self.premises or None, "management_system": self.management_system or None,
        }
        if self.registered_capital_rmb:
            declared["registered_capital_rmb"] = whole(self.registered_capital_rmb.replace(",", ""))
        return {
            "organisation_uscc": organisation_uscc, "organisation_name": self.organisation_name, "kind": self.kind,
            "path": self.path, "requested_fields": self.requested, "declared": declared,
            "commitment_text": (self.commitment_text or None) if self.path == "commitment" else None,
        }

    def anchors(self, fields: list[dict[str, Any]]) -> set[str]:
        codes = [f["code"] for f in fields]
        return {"organisation_uscc", "organisation_name", "kind", "fields", "registered_capital_rmb", "premises",
                "management_system", "commitment_text", *(f"field-{c}" for c in codes), *(f"staff-{c}" for c in codes)}


def whole(text: str) -> int | str:
    """A whole number if it reads as one; else the text, which the service refuses naming its field."""
    try:
        return int(text)
    except ValueError:
        return text


CERTIFICATE_COLUMNS = (
    "holder_uscc", "holder_name", "scheme", "field", "product", "standard", "valid_from", "valid_until",
)


def certificate_body(row: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {name: (row.get(name) or "").strip() for name in CERTIFICATE_COLUMNS[:6]}
    for name in ("valid_from", "valid_until"):
        if (row.get(name) or "").strip():
            body[name] = row[name].strip()
    return body


def read_csv(content: bytes, limit: int) -> list[tuple[int, dict[str, str]]]:
    """The rows of an uploaded CSV (UTF-8, with or without BOM), with their line numbers."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = set(CERTIFICATE_COLUMNS[:6]) - set(reader.fieldnames or ())
    if missing:
        raise ValueError("missing columns: " + ", ".join(sorted(missing)))
    rows = [(reader.line_num, {k: (v or "") for k, v in row.items() if k}) for row in reader]
    if not rows:
        raise ValueError("no rows")
    if len(rows) > limit:
        raise ValueError(f"more than {limit} rows")
    return rows


def number(text: str) -> float | str:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text

