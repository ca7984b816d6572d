"""The certificate as a printable PDF (A4, Chinese and English): number, holder, scope,
standard, validity, issuing body, and a QR code that opens the public status page. The signed
credential travels inside it as an attached file (`credential.jwt`), so that
`conformity verify-certificate FILE.pdf` checks the very claims the page shows.

fpdf2 lays the page out and subsets the CJK font (a Debian package: fonts-wqy-microhei or
fonts-noto-cjk); segno draws the QR code.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from pathlib import Path

import segno
from fpdf import FPDF

from conformity_shared.credentials import unverified_claims

ATTACHMENT_NAME = "credential.jwt"
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)

SCHEMES = {
    "CCC": ("中国强制性产品认证", "China Compulsory Certification"),
    "voluntary_product": ("自愿性产品认证", "Voluntary product certification"),
    "management_system": ("管理体系认证", "Management system certification"),
    "service": ("服务认证", "Service certification"),
}


class FontMissing(RuntimeError):
    """No CJK font: install fonts-wqy-microhei (make system-deps) or set CONFORMITY_CERTIFICATE_FONT_FILE."""


def font_file(configured: Path | None) -> Path:
    for path in (configured,) if configured else FONT_CANDIDATES:
        if path is not None and path.exists():
            return path
    raise FontMissing(f"no CJK font found (looked for {configured or ', '.join(map(str, FONT_CANDIDATES))}): "
                      "install fonts-wqy-microhei (make system-deps) or set CONFORMITY_CERTIFICATE_FONT_FILE")


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make_qr(url, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def render(token: str, configured_font: Path | None = None) -> bytes:
    """The PDF of the certificate whose signed credential is ``token`` (the platform's own, so
    its claims are read without re-checking the signature), the credential attached."""
    claims = unverified_claims(token)
    subject = claims["credentialSubject"]
    cert, body = subject["certificate"], subject["certificationBody"]
    scheme_zh, scheme_en = SCHEMES.get(cert["scheme"], (cert["scheme"], cert["scheme"]))

    pdf = FPDF(format="A4")
    pdf.set_title(f"Certificate {cert['number']}")
    pdf.set_subject(f"{cert['number']} {subject['name']}")
    pdf.set_keywords(f"vc+jwt {ATTACHMENT_NAME}")
    pdf.set_creator("Conformity-assessment platform, certificates service")
    pdf.add_font("cjk", fname=str(font_file(configured_font)))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_draw_color(30, 60, 120)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 190, 277)

    def line(text: str, size: float, height: float, align: str = "C") -> None:
        pdf.set_font("cjk", size=size)
        pdf.set_x(20)
        pdf.multi_cell(170, height, text, align=align)

    pdf.set_y(28)
    line("认 证 证 书", 26, 13)
    line("CERTIFICATE OF CONFORMITY", 15, 9)
    line(f"{scheme_zh}  {scheme_en}", 11, 7)
    pdf.ln(4)
    line(f"证书编号 Certificate No.: {cert['number']}", 12, 8)
    pdf.ln(6)

    def field(label_zh: str, label_en: str, value: str) -> None:
        pdf.set_font("cjk", size=9)
        pdf.set_x(22)
        pdf.cell(166, 5, f"{label_zh}  {label_en}")
        pdf.ln(5)
        line(value, 12, 6.5, align="L")
        pdf.ln(2)

    holder_uscc = subject["id"].removeprefix("urn:uscc:")
    body_uscc = body["id"].removeprefix("urn:uscc:")
    field("持证人", "Holder", f"{subject['name']}  (统一社会信用代码 USCC {holder_uscc})")
    field("认证范围", "Scope", f"{cert['product']}  [{cert['field']}]")
    field("认证依据标准", "Standard", cert["standard"])
    field("有效期", "Validity", f"{cert['validFrom']} 至 to {cert['validUntil']}")
    field("发证机构", "Issuing body", f"{body['name'] or body_uscc}  (USCC {body_uscc})")
    field("批准", "Approval", f"{body['approval']['id']}  {', '.join(body['approval']['scope'])}")

    pdf.image(io.BytesIO(qr_png(cert["statusPage"])), x=75, y=205, w=60, h=60)
    pdf.set_y(266)
    line("扫描二维码查询证书实时状态  Scan to check the certificate's live status", 9, 5)
    line(cert["statusPage"], 8, 4)
    pdf.set_y(278)
    line("本证书的电子形式（W3C 可验证凭证）作为附件嵌入本文件。"
         "The signed digital form (W3C Verifiable Credential) is attached to this file.", 7, 3.5)
    pdf.embed_file(bytes=token.encode(), basename=ATTACHMENT_NAME, mime_type="application/vc+jwt",
                   desc="W3C Verifiable Credential 2.0 (vc+jwt), signed by the platform's issuing key")
    return bytes(pdf.output())


class Renderer:
    """Renders certificate PDFs off the event loop, one at a time per replica (laying out and
    subsetting the CJK font takes about a second of CPU: a burst of requests must not take every
    core), and keeps the last few documents, which are asked for again (a holder printing, a
    platform checking)."""

    def __init__(self, font: Path | None, keep: int = 64) -> None:
        self.font, self.keep = font, keep
        self._lock = asyncio.Lock()
        self._kept: OrderedDict[str, bytes] = OrderedDict()

    async def pdf(self, token: str) -> bytes:
        async with self._lock:
            document = self._kept.get(token)
            if document is None:
                document = await asyncio.to_thread(render, token, self.font)
                self._kept[token] = document
                if len(self._kept) > self.keep:
                    self._kept.popitem(last=False)
            else:
                self._kept.move_to_end(token)
            return document
