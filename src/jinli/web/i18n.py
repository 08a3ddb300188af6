"""Console text in Chinese and English. English strings are the keys (gettext style); the
catalogue gives the Chinese. A test checks that every string the templates use is translated."""

from __future__ import annotations

from collections.abc import Callable

LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"

ZH: dict[str, str] = {
    "Jinli console": "锦鲤控制台",
    "Dashboard": "概览",
    "Campaigns": "活动",
    "Campaign": "活动",
    "Team": "团队",
    "Operators": "操作员",
    "API keys": "API 密钥",
    "Audit log": "审计日志",
    "Log in": "登录",
    "Log out": "退出",
    "E-mail": "邮箱",
    "Password": "密码",
    "Name": "名称",
    "Role": "角色",
    "Status": "状态",
    "Actions": "操作",
    "Save": "保存",
    "Create": "创建",
    "Cancel": "取消",
    "Edit": "编辑",
    "Back": "返回",
    "New campaign": "新建活动",
    "Edit campaign": "编辑活动",
    "Description (consumer-facing copy)": "活动文案（消费者可见）",
    "Budget cap (yuan)": "预算上限（元）",
    "Initial funding (yuan)": "首次注资（元）",
    "Starts at (Beijing time)": "开始时间（北京时间）",
    "Ends at (Beijing time)": "结束时间（北京时间）",
    "Reward rule": "奖励规则",
    "No reward": "无奖励",
    "Fixed amount": "固定金额",
    "Prize tiers": "奖项档位",
    "Amount per winner (yuan)": "每位中奖者金额（元）",
    "Max winners (optional)": "最多中奖人数（可选）",
    "Tiers: one per line, 'amount_yuan probability_% label'": "档位：每行一个，格式“金额(元) 概率(%) 名称”",
    "Budget": "预算",
    "Cap": "上限",
    "Funded": "已注资",
    "Available": "可用",
    "Reserved": "已预留",
    "Paid": "已支付",
    "Returned": "已退回",
    "Top up": "追加预算",
    "Amount (yuan)": "金额（元）",
    "Memo": "备注",
    "Change cap": "调整上限",
    "New cap (yuan)": "新上限（元）",
    "Channels": "渠道",
    "Add channel": "添加渠道",
    "Code": "代码",
    "Kind": "类型",
    "Link": "链接",
    "Ledger": "账本",
    "When": "时间",
    "Who": "操作人",
    "What": "动作",
    "Object": "对象",
    "IP": "IP",
    "Window": "时间窗口",
    "Created": "创建时间",
    "Publish": "发布",
    "Unpublish": "撤回发布",
    "Start now": "立即开始",
    "Pause": "暂停",
    "Resume": "恢复",
    "End": "结束",
    "Settle": "结算",
    "draft": "草稿",
    "scheduled": "待开始",
    "live": "进行中",
    "paused": "已暂停",
    "ended": "已结束",
    "settled": "已结算",
    "owner": "所有者",
    "operator": "运营",
    "finance": "财务",
    "developer": "开发者",
    "oa_menu": "公众号菜单",
    "mini_program": "小程序",
    "community": "社群",
    "offline_qr": "线下二维码",
    "fund": "注资",
    "reserve": "预留",
    "post": "支付确认",
    "void": "撤销预留",
    "refund": "退款回预算",
    "withdraw": "退回品牌",
    "Add operator": "添加操作员",
    "Deactivate": "停用",
    "Active": "启用中",
    "Inactive": "已停用",
    "Last login": "最近登录",
    "Create API key": "创建 API 密钥",
    "Revoke": "吊销",
    "Revoked": "已吊销",
    "Last used": "最近使用",
    "Prefix": "前缀",
    "Copy this key now. It will not be shown again.": "请立即复制此密钥，它不会再次显示。",
    "Nothing here yet.": "暂无数据。",
    "Previous": "上一页",
    "Next": "下一页",
    "Budget overview": "预算概览",
    "Campaigns by status": "各状态活动数",
    "Total funded": "总注资",
    "Total paid": "总支付",
    "Something went wrong": "出错了",
    "Go back": "返回",
    "Saved.": "已保存。",
    "Language": "语言",
    "Search": "搜索",
    "All": "全部",
    "Version": "版本",
    "Budget burn": "预算消耗",
    "KPI targets": "KPI 目标",
    "Wrong e-mail or password": "邮箱或密码错误",
    "Too many failed logins; wait before trying again": "登录失败次数过多，请稍后再试",
    "Please log in again": "请重新登录",
    "The form expired or did not come from this site; reload and try again": "表单已过期或来源不明，请刷新后重试",
    "Delivery": "发放",
    "The request is not valid": "请求无效",
    "No such object": "对象不存在",
    "Your role does not allow this": "您的角色无权执行此操作",
    "initial funding": "首次注资",
    "top-up": "追加预算",
    "settlement": "结算退回",
    "Not Found": "页面不存在",
    "Method Not Allowed": "不支持此请求方式",
    # Titles of the errors the console can show (see ``describe``).
    "The campaign budget does not have this much available": "活动预算余额不足",
    "Funding would exceed the campaign's hard budget cap": "注资将超过活动预算上限",
    "Amounts are positive whole numbers of fen": "金额必须为正数",
    "No budget ledger for this campaign": "此活动没有预算账本",
    "The cap cannot be lower than what is already funded": "预算上限不能低于已注资金额",
    "No such campaign": "活动不存在",
    "The campaign's status does not allow this action": "活动当前状态不允许此操作",
    "The campaign's time window is not valid": "活动时间设置无效",
    "The reward rule is not valid": "奖励规则无效",
    "This field can no longer be changed in the campaign's current status": "活动当前状态下此项不能再修改",
    "The campaign is not ready to be published": "活动暂不能发布",
    "The campaign still has money in flight and cannot be settled": "活动仍有处理中的款项，暂不能结算",
    "No such channel": "渠道不存在",
    "This campaign already has a channel with this code": "此活动已有相同代码的渠道",
    "Channel codes are 2–32 lower-case letters, digits, '-' or '_'": "渠道代码须为 2–32 位小写字母、数字、“-”或“_”",
    "Someone else changed the campaign meanwhile; reload and try again": "活动已被他人修改，请刷新后重试",
    "The password is too weak": "密码强度不足",
    "An operator with this e-mail already exists": "该邮箱已有操作员",
    "No such operator": "操作员不存在",
    "No such API key": "API 密钥不存在",
    "A brand must keep at least one active owner": "品牌必须至少保留一位启用中的所有者",
    "You are not allowed to do this": "您无权执行此操作",
    "The current state does not allow this": "当前状态不允许此操作",
}

EN: dict[str, str] = {
    "draft": "Draft",
    "scheduled": "Scheduled",
    "live": "Live",
    "paused": "Paused",
    "ended": "Ended",
    "settled": "Settled",
    "owner": "Owner",
    "operator": "Operator",
    "finance": "Finance",
    "developer": "Developer",
    "oa_menu": "Official-account menu",
    "mini_program": "Mini program",
    "community": "Community",
    "offline_qr": "Offline QR code",
    "fund": "Funding",
    "reserve": "Reservation",
    "post": "Payout confirmed",
    "void": "Reservation voided",
    "refund": "Refund to budget",
    "withdraw": "Returned to brand",
}
"""English labels for the enum values the templates show (the values themselves are codes)."""

Translator = Callable[[str], str]


def translator(locale: str) -> Translator:
    catalogue = ZH if locale == "zh" else EN
    return lambda text: catalogue.get(text, text)


def describe(t: Translator, title: str, detail: str) -> str:
    """An error for the console: the detail translated when the catalogue knows it, otherwise
    the (translated) title followed by the specific detail, e.g. "注资将超过活动预算上限：…"."""
    translated = t(detail)
    if translated != detail:
        return translated
    summary = t(title)
    if summary == title or detail == title:
        return detail
    return f"{summary}：{detail}"


def pick_locale(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LOCALES:
        return cookie
    if accept_language and accept_language.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE
