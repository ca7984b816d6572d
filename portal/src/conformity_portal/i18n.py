"""Chinese by default, English on request: `?lang=en` (remembered in a cookie), or the cookie.

Every text of the pages is a key here with both languages; the services' own messages (the
`detail` of a refusal) are English, so a failed rule is shown with its code's name in the
page's language and the service's words beside it."""

from __future__ import annotations

from fastapi import Request

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
COOKIE = "portal_lang"

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (Chinese, English)
    "portal": ("合格评定门户", "Conformity portal"),
    "skip": ("跳到主要内容", "Skip to main content"),
    "language": ("语言", "Language"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "welcome": ("认证机构、检验检测机构和监管部门的在线办事入口。", "Online services for agencies, laboratories and the regulator."),
    "sign_in_hint": ("通过平台的身份认证服务登录。", "Sign in through the platform's identity issuer."),
    "signed_in_as": ("当前用户", "Signed in as"),
    "role_agency": ("认证机构", "Certification agency"),
    "role_lab": ("检验检测机构", "Laboratory"),
    "role_regulator": ("监管部门", "Regulator"),
    "no_pages": ("此角色在门户中没有页面。", "The portal has no pages for this role."),
    "service_unavailable": ("服务暂时不可用，请稍后再试。", "A service is unavailable; please try again later."),
    "not_found": ("未找到，或您无权查看。", "Not found, or not yours to see."),
    "error_summary": ("提交未成功，请修正以下问题：", "There is a problem: please correct the following"),
    "required_mark": ("（必填）", "(required)"),
    "submit": ("提交", "Submit"),
    "back": ("返回", "Back"),
    "status": ("状态", "Status"),
    "none_yet": ("暂无。", "None yet."),
    # agency
    "agency_home": ("机构办事", "Agency services"),
    "applications": ("资质申请", "Applications"),
    "apply_commitment": ("告知承诺申请", "Apply on the commitment path"),
    "apply_standard": ("一般程序申请", "Apply on the ordinary path"),
    "approvals": ("已批准资质", "Approvals"),
    "certificates": ("已发证书", "Certificates issued"),
    "issue_certificate": ("颁发证书", "Issue a certificate"),
    "upload_certificates": ("批量上传证书（CSV）", "Upload certificates (CSV)"),
    "application": ("申请", "Application"),
    "submitted_at": ("提交时间", "Submitted"),
    "path": ("程序", "Path"),
    "path_commitment": ("告知承诺", "Commitment"),
    "path_standard": ("一般程序", "Ordinary"),
    "fields": ("领域", "Fields"),
    "decision_due": ("决定期限", "Decision due"),
    "working_days_left": ("剩余工作日", "Working days left"),
    "overdue": ("已逾期", "overdue"),
    "failed_rules": ("未满足的条件", "Failed rules"),
    "apply_title_commitment": ("告知承诺申请", "Application on the commitment path"),
    "apply_title_standard": ("一般程序申请", "Application on the ordinary path"),
    "apply_intro_commitment": (
        "告知承诺：申请人书面承诺满足全部条件，符合条件的当场批准；批准后监管部门将进行核查，承诺不实将记入信用记录。高风险领域不适用告知承诺。",
        "Commitment path: you commit in writing that every condition is met; if the rules are met the approval is "
        "granted at once. The regulator verifies the commitment afterwards; a false commitment is a credit sanction. "
        "High-risk fields cannot use this path."),
    "apply_intro_standard": (
        "一般程序：申请受理后，监管部门在20个工作日内作出决定。",
        "Ordinary path: once accepted, the regulator decides within 20 working days."),
    "organisation_uscc": ("统一社会信用代码", "Unified social credit code"),
    "organisation_name": ("机构名称", "Organisation name"),
    "kind": ("机构类型", "Kind"),
    "kind_certification_body": ("认证机构", "Certification body"),
    "kind_testing_lab": ("检验检测机构", "Testing laboratory"),
    "requested_fields": ("申请领域及专职人员", "Requested fields and their staff"),
    "requested_fields_hint": (
        "勾选申请的领域，并填写每个领域的专职人员人数（认证机构每个领域至少10名，检验检测机构至少1名）。",
        "Tick each field you apply for and give its full-time qualified staff (a certification body needs at "
        "least 10 per field, a laboratory at least 1)."),
    "field": ("领域", "Field"),
    "risk": ("风险等级", "Risk"),
    "risk_high": ("高", "high"),
    "risk_medium": ("中", "medium"),
    "risk_low": ("低", "low"),
    "high_risk_note": ("高风险：仅限一般程序", "high risk: ordinary path only"),
    "staff": ("专职人员", "Staff"),
    "staff_for": ("专职人员人数：", "Full-time qualified staff for "),
    "registered_capital_rmb": ("注册资本（元）", "Registered capital (RMB)"),
    "registered_capital_hint": ("认证机构注册资本不少于300万元。", "A certification body needs at least RMB 3,000,000."),
    "premises": ("办公场所", "Premises"),
    "management_system": ("管理体系文件", "Management system"),
    "commitment_text": ("承诺书", "Commitment"),
    "commitment_hint": (
        "本机构承诺已满足申请领域的全部条件，所填信息真实有效，愿意承担承诺不实的法律责任。签字：法定代表人",
        "We commit that every condition for the requested fields is met and that the facts declared are true, and "
        "accept the consequences of a false commitment. Signed: legal representative"),
    "commitment_text_hint": ("请填写并签署承诺书全文。", "Write out and sign the commitment."),
    "applied_granted": ("申请已批准。", "The application was granted."),
    "applied_submitted": ("申请已提交，等待受理。", "The application was submitted and awaits acceptance."),
    "refused": ("申请未获批准：以下条件未满足。", "The application was refused: these rules failed."),
    # certificates
    "number": ("证书编号", "Number"),
    "holder": ("获证组织", "Holder"),
    "holder_uscc": ("获证组织统一社会信用代码", "Holder's unified social credit code"),
    "holder_name": ("获证组织名称", "Holder's name"),
    "scheme": ("认证类别", "Scheme"),
    "product": ("认证对象（产品/体系/服务）", "Product, system or service certified"),
    "standard": ("依据标准", "Standard"),
    "valid_until": ("有效期至", "Valid until"),
    "issue_scope_hint": ("只能在已批准且未暂停的领域内发证。", "Certificates are issued only within approved, unsuspended fields."),
    "no_scope": ("尚无可发证的已批准领域。", "No approved field to issue in yet."),
    "issued": ("证书已颁发。", "The certificate was issued."),
    "history": ("变更记录", "History"),
    "csv_file": ("CSV 文件", "CSV file"),
    "csv_hint": (
        "第一行为列名：holder_uscc, holder_name, scheme, field, product, standard（可选 valid_from, valid_until）。每行颁发一张证书。",
        "The first line names the columns: holder_uscc, holder_name, scheme, field, product, standard (optional "
        "valid_from, valid_until). Each row issues one certificate."),
    "upload": ("上传", "Upload"),
    "upload_report": ("上传结果", "Upload report"),
    "row": ("行", "Row"),
    "result": ("结果", "Result"),
    "rows_issued": ("张证书已颁发", "certificates issued"),
    "rows_refused": ("行未通过", "rows refused"),
    "csv_unreadable": ("无法读取该文件：", "The file cannot be read: "),
    # lab
    "lab_home": ("能力验证", "Proficiency testing"),
    "rounds": ("能力验证计划", "Rounds"),
    "measurand": ("被测量", "Measurand"),
    "deadline": ("截止时间", "Deadline"),
    "submitted": ("已提交", "submitted"),
    "not_submitted": ("未提交", "not submitted"),
    "submit_result": ("提交结果", "Submit the result"),
    "value": ("测量值", "Value"),
    "expanded_uncertainty": ("扩展不确定度 U", "Expanded uncertainty U"),
    "coverage_factor": ("包含因子 k", "Coverage factor k"),
    "uk_hint": ("U 与 k 须同时填写或同时留空。", "Give U and k together, or neither."),
    "your_result": ("本机构结果", "Your result"),
    "scores": ("评价结果", "Scores"),
    "score": ("得分", "Score"),
    "signal": ("结论", "Signal"),
    "scores_after_close": ("计划关闭后公布评价结果。", "Scores are published once the round is closed."),
    "result_received": ("结果已提交。", "The result was received."),
    "deadline_passed": ("已过截止时间。", "The deadline has passed."),
    "round_status_open": ("进行中", "open"),
    "round_status_closed": ("已关闭", "closed"),
    "round_status_cancelled": ("已取消", "cancelled"),
    # regulator
    "regulator_home": ("监管工作台", "Regulator's desk"),
    "queue": ("待办申请", "Applications to act on"),
    "to_accept": ("待受理", "To accept"),
    "to_decide": ("待决定", "To decide"),
    "accept": ("受理", "Accept"),
    "grant": ("批准", "Grant"),
    "reject": ("不予批准", "Reject"),
    "reasons": ("理由（不予批准时必填）", "Reasons (required to reject)"),
    "decide": ("作出决定", "Decide"),
    "rounds_to_close": ("待关闭的能力验证计划", "Rounds to close"),
    "close": ("关闭并评价", "Close and evaluate"),
    "done": ("已完成。", "Done."),
    "organisation": ("机构", "Organisation"),
    # paging
    "pages": ("分页", "pages"),
    "previous_page": ("上一页", "Previous page"),
    "next_page": ("下一页", "Next page"),
    "page_n": ("第 {n} 页", "Page {n}"),
    # lab: samples, outcomes, the round's plot
    "lab_suspensions": ("被暂停的领域及其依据", "Fields suspended, and why"),
    "evidence": ("依据", "Evidence"),
    "samples": ("待检测样品", "Samples to test"),
    "samples_hint": ("监管部门分配给本机构检测的样品；每个样品只能报告一次结果。", "Samples the regulator assigned to you for testing; each result is reported once."),
    "sample": ("样品", "Sample"),
    "assigned_at": ("分配时间", "Assigned"),
    "sample_status_assigned": ("待报告", "to report"),
    "sample_status_reported": ("已报告", "reported"),
    "description": ("说明", "Description"),
    "report_sample": ("报告结果", "Report the result"),
    "outcomes": ("能力验证结果记录", "Outcomes"),
    "outcomes_per_field": ("按领域汇总", "Per field"),
    "outcomes_total": ("次数", "Outcomes"),
    "outcomes_failed": ("不满意次数", "Failed"),
    "last_signal": ("最近结论", "Last signal"),
    "outcomes_history": ("逐次记录（最近在前）", "Each outcome, newest first"),
    "at": ("时间", "When"),
    "round": ("计划", "Round"),
    "plot_heading": ("全部参加者的得分", "Every participant's score"),
    "plot_hint": ("各点为匿名参加者，按得分排序；±2 以内为满意，2 至 3 之间为有问题，3 以上为不满意。本机构的点已突出显示。",
                  "Each point is one participant, anonymised, in score order: within ±2 acceptable, between 2 and 3 "
                  "warning, 3 or more action. Your point is highlighted."),
    "plot_title": ("{field} · {measurand}：{kind} 得分分布", "{field} · {measurand}: {kind} scores"),
    "plot_desc": ("{n} 个参加者的 {kind} 得分，按大小排列。", "{kind} scores of {n} participants in order."),
    "plot_desc_yours": ("本机构得分 {score}（{signal}），在 {n} 个中排第 {rank}。", "Yours is {score} ({signal}), {rank} of {n}."),
    "plot_axis": ("{kind} 得分", "{kind} score"),
    "plot_you": ("本机构", "You"),
    "plot_table": ("图中各点（表格形式）", "The plot's points, as a table"),
    "rank": ("序号", "Rank"),
    "participant": ("参加者", "Participant"),
    "anonymous": ("匿名", "anonymous"),
    "assigned_value": ("指定值", "Assigned value"),
    "participants": ("参加者", "participants"),
    # agency: supervision
    "agency_supervision": ("监管记录", "Supervision"),
    "agency_supervision_intro": ("监管部门对本机构的处理：资质暂停及其理由、信用惩戒、承诺核查。",
                                 "What the regulator's supervision holds on you: suspensions of your approval with their reasons, credit sanctions, verifications of your commitments."),
    "suspended_notice": ("本机构的资质（或部分领域）已被暂停。", "Your approval, or some of its fields, is suspended."),
    "see_reasons": ("查看理由", "See why"),
    "approval_acts": ("资质暂停、恢复、撤销", "Suspensions, reinstatements, revocations"),
    "suspended_fields": ("暂停的领域", "Suspended fields"),
    "act": ("处理", "Act"),
    "act_suspended": ("暂停", "suspended"),
    "act_reinstated": ("恢复", "reinstated"),
    "act_scope_reduced": ("缩减范围", "scope reduced"),
    "act_revoked": ("撤销", "revoked"),
    "whole_approval": ("全部", "the whole approval"),
    "reason": ("理由", "Reason"),
    "credit_sanctions": ("信用惩戒", "Credit sanctions"),
    "no_sanctions": ("无信用惩戒记录。", "No credit sanction."),
    "credit_class": ("信用等级", "Credit class"),
    "credit_history": ("信用等级变更", "Changes of the credit class"),
    "credit_change": ("变更", "Change"),
    "credit_unknown": ("暂无信用等级信息。", "No credit class is known yet."),
    "verification": ("核查", "Verification"),
    "verifications": ("告知承诺核查", "Verifications of commitments"),
    "verifications_hint": ("告知承诺批准后，监管部门在期限内核查所承诺的条件。", "After a grant on the commitment path, the regulator verifies the committed facts by the due date."),
    "due": ("期限", "Due"),
    "findings": ("核查意见", "Findings"),
    # regulator: overdue, verifications to assign
    "overdue_title": ("逾期事项", "Overdue"),
    "as_of": ("截至日期", "As of"),
    "as_of_hint": ("默认为今天；可选择以后的日期，查看届时将逾期的事项。", "Today if empty; a later day shows what will be overdue by then."),
    "show": ("显示", "Show"),
    "judged_on": ("判断日期：", "Judged as of"),
    "bad_date": ("日期格式应为 年-月-日。", "A date is written year-month-day."),
    "overdue_applications": ("超过工作日期限未决定的申请", "Applications past their working-day deadline"),
    "overdue_verifications": ("超过期限未完成的承诺核查", "Commitment verifications past their due date"),
    "nothing_overdue": ("没有逾期事项。", "Nothing is overdue."),
    "inspector": ("检查员", "Inspector"),
    "inspector_id": ("检查员编号", "Inspector's id"),
    "unassigned": ("未指派", "unassigned"),
    "verifications_to_assign": ("待指派的承诺核查", "Verifications to assign"),
    "verifications_assign_intro": ("为每项待核查的告知承诺指派检查员；记录结果前可重新指派。", "Name the inspector who verifies each commitment; it can be reassigned until the result is recorded."),
    "assign": ("指派", "Assign"),
    "reassign": ("重新指派", "Reassign"),
    "assigned": ("已指派。", "Assigned."),
    "round_still_open": ("尚未到截止时间", "still open for results"),
}

# The services' states and signals, as the pages show them (the raw value stays in data-status).
STATES: dict[str, tuple[str, str]] = {
    "submitted": ("已提交", "submitted"), "accepted": ("已受理", "accepted"), "granted": ("已批准", "granted"),
    "rejected": ("不予批准", "rejected"), "refused": ("未通过", "refused"), "active": ("有效", "active"),
    "suspended": ("暂停", "suspended"), "revoked": ("已撤销", "revoked"), "valid": ("有效", "valid"),
    "withdrawn": ("撤销", "withdrawn"), "cancelled": ("注销", "cancelled"), "expired": ("过期", "expired"),
    "acceptable": ("满意", "acceptable"), "warning": ("有问题（警戒）", "warning"), "action": ("不满意（行动）", "action"),
    "scheduled": ("待核查", "scheduled"), "confirmed": ("属实", "confirmed"), "breached": ("承诺不实", "breached"),
}

RULES: dict[str, tuple[str, str]] = {
    "organisation_uscc_invalid": ("统一社会信用代码无效", "invalid unified social credit code"),
    "organisation_name_missing": ("缺少机构名称", "organisation name missing"),
    "fields_missing": ("未选择申请领域", "no field requested"),
    "field_unknown": ("领域不在目录中", "field not in the catalogue"),
    "field_kind_mismatch": ("领域与机构类型不符", "field of another kind of organisation"),
    "field_not_requested": ("领域未申请", "field not requested"),
    "commitment_refused_for_high_risk_field": ("高风险领域不适用告知承诺", "high-risk field: no commitment path"),
    "commitment_text_missing": ("缺少承诺书", "commitment text missing"),
    "premises_missing": ("缺少办公场所", "premises missing"),
    "management_system_missing": ("缺少管理体系文件", "management system missing"),
    "staff_missing": ("未填写专职人员", "staff not declared"),
    "staff_below_minimum": ("专职人员不足", "too few staff"),
    "registered_capital_missing": ("未填写注册资本", "registered capital missing"),
    "registered_capital_below_minimum": ("注册资本不足", "registered capital below the minimum"),
}


def language_of(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(COOKIE)
    return kept if kept in LANGUAGES else DEFAULT


def translator(language: str):  # noqa: ANN201 - a plain function for the templates
    index = LANGUAGES.index(language)

    def t(key: str) -> str:
        pair = MESSAGES.get(key)
        return pair[index] if pair else key

    return t


def state_name(value: str | None, language: str) -> str:
    pair = STATES.get(value or "")
    return pair[LANGUAGES.index(language)] if pair else (value or "")


def rule_name(code: str | None, language: str) -> str | None:
    pair = RULES.get(code or "")
    return pair[LANGUAGES.index(language)] if pair else None
