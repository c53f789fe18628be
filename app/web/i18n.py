"""Chinese by default, English as a switch. Templates write the Chinese text and wrap
it in ``_()``; this table gives the English. A missing entry shows the Chinese, which
is the safe failure for these users."""

from __future__ import annotations

EN = {
    "整改台账": "Rectification ledger",
    "总览": "Overview",
    "系统暂时无法连接数据库，请稍后再试。恢复后刷新即可继续使用，已保存的数据不受影响。": (
        "The system cannot reach its database right now. Please try again shortly: once it is back, "
        "just reload the page. Nothing you saved is lost."
    ),
    "督办看板": "Dashboard",
    "整改方案": "Plans",
    "整改任务": "Tasks",
    "消息": "Inbox",
    "报送": "Reports",
    "管理": "Admin",
    "退出": "Sign out",
    "菜单": "Menu",
    "主菜单": "Main menu",
    "登录": "Sign in",
    "用户名": "Username",
    "密码": "Password",
    "修改密码": "Change password",
    "原密码": "Current password",
    "新密码": "New password",
    "确认新密码": "Repeat new password",
    "保存": "Save",
    "提交": "Submit",
    "筛选": "Filter",
    "全部": "All",
    "状态": "State",
    "责任单位": "Responsible unit",
    "问题": "Problem",
    "问题类型": "Category",
    "问题性质": "Nature",
    "共性问题": "Common",
    "个性问题": "Individual",
    "整改时限": "Deadline",
    "整改措施": "Measures",
    "问题描述": "Description",
    "只看逾期": "Overdue only",
    "几天内到期": "Due within days",
    "三色督办": "Three-colour supervision",
    "蓝色：3日内到期": "Blue: due within 3 days",
    "黄色：已逾期": "Yellow: overdue",
    "红色：升级至最高级督办": "Red: escalated to the top level",
    "排序": "Sort",
    "按时限": "By deadline",
    "按时限倒序": "Latest deadline first",
    "按单位": "By unit",
    "按状态": "By state",
    "最近更新": "Recently updated",
    "下一页": "Next page",
    "上一页": "Previous page",
    "第一页": "First page",
    "翻页": "Pages",
    "翻页位置无效，请从第一页重新浏览。": "That page position is not valid: start again from the first page.",
    "共": "Total",
    "项": "items",
    "逾期": "Overdue",
    "任务数": "Tasks",
    "已整改率": "Rectified",
    "销号率": "Closed",
    "文号": "Doc. no.",
    "下发日期": "Issued",
    "下发单位": "Issued by",
    "阶段": "Phases",
    # authoring: a plan, a problem with its unit picker, a report owed; reports' states
    "下发整改方案": "Issue a plan",
    "方案名称": "Plan title",
    "如 三建〔2022〕187号": "e.g. the notice's document number",
    "提交整改须附佐证材料": "Marking rectified needs evidence",
    "“N个工作日内”的起算日": "“Within N working days” counts from",
    "各单位收到任务之日": "the day each unit receives its task",
    "方案印发之日": "the plan's issue date",
    "阶段（可不填）": "Phases (optional)",
    "阶段名称": "Phase",
    "截止时间": "Ends",
    "动员部署": "Mobilisation",
    "排查整改": "Inspection and rectification",
    "总结验收": "Review and acceptance",
    "5月底前": "end of May",
    "6月25日前": "by 25 June",
    "7月底": "end of July",
    "下发后可在方案页设置提醒规则、添加问题和报送要求。": (
        "Once issued, add its problems, the reports owed and its reminder policy on the plan's page."
    ),
    "下发": "Issue",
    "添加问题": "Add a problem",
    "上报自查问题": "Report a problem you found",
    "如 政策落实方面": "e.g. policy implementation",
    "如 6月20日前、7月底、立行立改、5个工作日内": "as the notice writes it: a date, a month end, at once…",
    "问题来源": "Source",
    "备注": "Remarks",
    "序号（可不填，默认排在最后）": "No. (optional: next after the last)",
    "添加并分解任务": "Add and assign the tasks",
    "设置报送要求": "Declare a report owed",
    "报送内容": "Report",
    "如 周报、整改情况报告": "e.g. weekly report, rectification report",
    "报送时间": "When it is due",
    "如 每周五、6月10日前、每月底、每季度": "as the notice writes it: weekly, a date, monthly…",
    "定期报送截止日期（可不填，默认到方案最后阶段结束）": (
        "Last day of recurring reports (optional: the end of the plan's last phase)"
    ),
    "报送单位": "Units that report",
    "{name}的全部下级单位": "Every unit under {name}",
    "勾选的单位：": "The units ticked:",
    "本级": "This level",
    "报送文件": "File",
    "报送于": "handed in",
    "审核意见": "Review",
    "审核意见（退回时必填）": "Review comment (needed to return it)",
    "退回理由：": "Returned because: ",
    "审核意见：": "Review: ",
    "上次退回理由：": "Last returned because: ",
    "采纳": "Accept",
    "待报送": "Owed",
    "已报送": "Handed in",
    "已退回": "Returned",
    "已采纳": "Accepted",
    "整改方案已下发。接下来可添加问题、设置报送要求和提醒规则。": (
        "Plan issued. Next, add its problems, the reports owed and its reminder policy."
    ),
    "问题已添加，分解为 {n} 项整改任务。": "Problem added: {n} tasks assigned.",
    "请选择责任单位：某单位的全部下级单位，或勾选具体单位。": (
        "Choose the responsible units: every unit under one, or the units ticked."
    ),
    "请选择报送单位：某单位的全部下级单位，或勾选具体单位。": (
        "Choose the units that report: every unit under one, or the units ticked."
    ),
    "报送要求已设置，各单位将按时收到提醒。": "Report owed declared; each unit will be reminded in time.",
    "已撤销": "Withdrawn",
    "修改整改方案": "Edit the plan",
    "修改方案": "Edit the plan",
    "整改方案已修改。": "Plan saved.",
    "下发单位、下发日期和“N个工作日内”的起算日下发后不能修改：各任务的时限和督办单位已据此确定。": (
        "The issuing unit, the issue date and what “within N working days” counts from stay as issued: "
        "every task's deadline and supervisor were worked out from them."
    ),
    "撤销任务": "Withdraw the task",
    "撤销理由": "Why it is withdrawn",
    "撤销问题": "Withdraw the problem",
    "已撤销，该任务不再计入未办结数，提醒和督办随之停止。": (
        "Withdrawn: the task no longer counts as open, and its reminders and escalation stop."
    ),
    "问题已撤销：{n} 项任务不再计入未办结数，提醒和督办随之停止；撤销理由已记入各任务的办理记录。": (
        "Problem withdrawn: {n} tasks no longer count as open and their reminders stop; "
        "the reason is in each task's history."
    ),
    "撤销后，尚未销号的任务不再计入未办结数，提醒和逾期督办随之停止；任务和办理记录都会保留。": (
        "Once withdrawn, its tasks not yet closed no longer count as open and their reminders and "
        "escalation stop; the tasks and their history are kept."
    ),
    "已于 {when} 由 {who} 撤销。撤销理由：": "Withdrawn on {when} by {who}. Reason: ",
    "序号": "No.",
    # the ledger layouts' other headings (app.domain.ledger_layouts), as 本期台账变化 shows them
    "类型": "Category",
    "数量": "Count",
    "具体问题": "Problem",
    "问题简述": "Description",
    "整改措施简述": "Measures",
    "问题表述": "Description",
    "完成时限": "Due by",
    "是否销号": "Struck off",
    "台账编号": "Ledger key",
    "下级整改": "Below",
    "本期变化": "Change this period",
    "任务": "Task",
    "报送要求": "Reporting obligations",
    "问题清单": "Problem list",
    "办理记录": "History",
    "佐证材料": "Evidence",
    "上传佐证材料": "Upload evidence",
    "上传": "Upload",
    "办理": "Act",
    "说明": "Comment",
    "开始整改": "Start",
    "提交整改": "Mark rectified",
    "退回整改": "Send back",
    "核实通过": "Verify",
    "销号": "Close (strike off)",
    "重新打开": "Reopen",
    "申请延期": "Request an extension",
    "延期后时限": "New deadline",
    "延期理由": "Reason",
    "延期申请": "Extension requests",
    "同意": "Approve",
    "不同意": "Deny",
    "督办单": "Supervision notice",
    "打印督办单": "Print supervision notice",
    "督办级别": "Escalation level",
    "列入通报": "On the public-notice list",
    "未读": "unread",
    "全部标为已读": "Mark all read",
    "标为已读": "Mark read",
    "暂无消息。": "No messages.",
    "应报送日期": "Due",
    "报送说明": "Note",
    "文件": "File",
    "通过": "Accept",
    "退回": "Return",
    "退回理由": "Reason for returning",
    "单位": "Units",
    "用户": "Users",
    "提醒规则": "Reminder policy",
    "节假日调整": "Holiday table",
    "新增单位": "Add unit",
    "上级单位": "Parent unit",
    "名称": "Name",
    "类别": "Kind",
    "新增用户": "Add user",
    "姓名": "Full name",
    "角色": "Role",
    "职务": "Position",
    "邮箱": "E-mail",
    "电话": "Phone",
    "抽查": "Spot checks",
    "抽取样本": "Draw a sample",
    "样本数": "Sample size",
    "随机种子": "Seed",
    "复核通过": "Re-check passed",
    "复核不通过（重新打开）": "Re-check failed (reopen)",
    "导入台账": "Import ledger",
    "导出台账": "Export ledger",
    "预览": "Preview",
    "确认导入": "Confirm import",
    "新增": "Add",
    "修改": "Change",
    "不变": "Unchanged",
    "表中没有的": "Not in the file",
    "方案中有、表中没有的问题（不会删除）": "Problems of the plan the file no longer lists (nothing is deleted)",
    "处理": "Action",
    "进展": "Progress",
    "三门峡附件版式": "Sanmenxia annex layout",
    "禹州台账版式": "Yuzhou ledger layout",
    "正在导入，请稍候……": "Importing, please wait…",
    "导入在后台进行，离开本页不影响导入；全部写入或全部不写入。": (
        "The import runs in the background; leaving this page does not stop it. Everything is written, or nothing."
    ),
    "刷新": "Refresh",
    "导入完成": "Import finished",
    "新增问题": "problems added",
    "分解为任务": "tasks",
    "修改问题": "problems changed",
    "进展记录": "progress notes",
    "导入失败，没有写入任何内容": "The import failed and wrote nothing",
    "重新上传": "Upload again",
    "返回整改方案": "Back to the plan",
    "完成率": "Completion rate",
    "按状态统计": "By state",
    "各单位逾期": "Overdue by unit",
    "挂账清零进度": "Open items over time",
    "按类型逾期": "Overdue by category",
    "挂账": "On the books",
    "整改中": "In progress",
    "已整改": "Rectified",
    "已核实": "Verified",
    "已销号": "Closed",
    "同意延期": "Extension approved",
    "不同意延期": "Extension denied",
    "逾期督办升级至第{level}级": "Escalated to level {level}",
    "，列入通报名单": ", put on the public-notice list",
    "（补记：应于{day}升级）": " (recorded late: it was due on {day})",
    "系统": "System",
    "无延期申请": "No extension requests",
    "工作日历调整，时限重算": "Working-day calendar changed, deadline counted again",
    "自收到任务之日": "counted from the day the unit received it",
    "自方案印发之日": "counted from the plan's issue date",
    "自申请延期之日": "counted from the extension request",
    "起算": "",
    "暂定": "provisional",
    "该年度法定节假日尚未正式公布，按推算的节假日计算，正式安排公布后将重新计算": (
        "This year's official holidays are not published yet; computed from the expected public holidays "
        "and counted again when the official calendar arrives"
    ),
    "各年工作日历来源": "Where each year's working days come from",
    "正式（国务院通知，随软件包提供）": "Official (State Council notice, from the calendar package)",
    "正式（管理员已按通知录入）": "Official (entered by an admin from the notice)",
    "暂定（工作日减去推算的法定节假日，未含调休）": (
        "Provisional (weekdays less the expected public holidays, no make-up days)"
    ),
    "已按正式通知录入，标为正式": "Entered from the official notice: mark official",
    "改回暂定": "Back to provisional",
    "暂定年份内计算的整改时限和提醒日标注“暂定”；录入或更正某日后，未办结任务的时限会重新计算并记入办理记录。": (
        "Deadlines and reminder days in a provisional year are marked provisional; after a day is entered or "
        "corrected, the deadlines of open tasks are counted again and the change is written into their history."
    ),
    "调整某一天": "Change one day",
    "已调整的日期": "Days changed by an admin",
    "“N个工作日内”自方案印发之日起算": "“within N working days” counts from the issue date",
    "“N个工作日内”自各单位收到任务之日起算": "“within N working days” counts from the day each unit receives its task",
    "台账进展": "Progress from the ledger",
    "待审批": "Pending",
    "版式": "Layout",
    "行": "rows",
    "错误": "Errors",
    "English": "English",
    "中文": "中文",
    "消息设置": "Notification settings",
    "整改提醒与逾期督办": "Reminders and escalations",
    "接收邮件": "Receive e-mail",
    "未登记邮箱": "no e-mail address on file",
    "每天一封汇总邮件，代替逐条邮件": "One daily digest instead of a mail per item",
    "消息语言": "Language of messages",
    "办理动态": "Workflow updates",
    "邮件在工作日 9:00–17:30 发送；选「立即发送」则随时发送。": (
        "Mail goes out on working days 09:00–17:30, unless set to “at once”."
    ),
    "消息类型": "Kind",
    "接收方式": "How",
    "新任务交办到本单位": "A new task for my unit",
    "任务已整改，等待核实": "A task rectified, awaiting a check",
    "任务被退回整改": "A task sent back",
    "任务已核实": "A task verified",
    "任务已销号": "A task closed",
    "任务被重新打开": "A task reopened",
    "有延期申请待审批": "An extension to decide",
    "延期申请已审批": "My extension request decided",
    "有报送待审核": "A report to review",
    "报送被退回": "A report returned",
    "报送已审核通过": "A report accepted",
    "任务被催办": "A task urged",
    "任务被撤销": "A task withdrawn",
    "整改时限被修改": "A task's deadline changed",
    "不接收": "Off",
    "仅站内消息": "Inbox only",
    "站内消息 + 每日汇总邮件": "Inbox + daily digest",
    "站内消息 + 邮件（工作时间发送）": "Inbox + mail (office hours)",
    "站内消息 + 邮件（立即发送）": "Inbox + mail (at once)",
    "催办": "Urge",
    "催办意见": "Note",
    "催办意见（可不填）": "Note (optional)",
    "催办所选": "Urge the ticked tasks",
    "（": " (",
    "）": ")",
    "，": ", ",
    "：": ": ",
    "、": ", ",
    "从已核实、已销号的任务中抽取，问题报告少的单位被抽中的概率更高；同一随机种子可复现同一样本。": (
        "Drawn from verified and closed tasks; units that reported few problems are more likely to be drawn; "
        "the same seed draws the same sample."
    ),
    "任务 {id} 未催办：{why}": "Task {id} not urged: {why}",
    "任务下达，列入挂账": "Task assigned, on the books",
    "休息日": "Day off",
    "佐证材料已上传：{n} 份。": "Evidence uploaded: {n} file(s).",
    "到期前几天提醒（逗号分隔）": "Remind this many days before the deadline (comma-separated)",
    "到期当日上午提醒": "Remind on the morning of the deadline",
    "单位已添加。": "Unit added.",
    "发送时段开始": "Send window opens",
    "发送时段结束": "Send window closes",
    "台账文件（.xlsx）": "Ledger file (.xlsx)",
    "复核结果": "Re-check result",
    "待复核": "To re-check",
    "复核不通过": "Re-check failed",
    "复核结果已登记。": "Re-check result recorded.",
    "密码已修改。": "Password changed.",
    "导出格式应为 xlsx 或 csv，版式应为 sanmenxia 或 yuzhou。": "Export as xlsx or csv, layout sanmenxia or yuzhou.",
    "已保存。": "Saved.",
    "已保存，{n} 项任务的整改时限随之调整（已记入各任务的办理记录）。": (
        "Saved; the deadlines of {n} tasks moved with it (written into each task's history)."
    ),
    "已催办 {n} 项任务。": "{n} task(s) urged.",
    "已审核。": "Review recorded.",
    "已开始整改。": "Work started.",
    "已报送。": "Report handed in.",
    "已抽取样本。": "Sample drawn.",
    "已提交整改，等待督办单位核实。": "Marked rectified; the supervising unit will check it.",
    "已核实通过。": "Verified.",
    "已退回整改，责任单位将看到退回理由。": "Sent back; the responsible unit will see your reason.",
    "已重新打开，任务回到整改中。": "Reopened; the task is in progress again.",
    "已销号。": "Closed (struck off the ledger).",
    "延期申请已审批。": "Extension request decided.",
    "延期申请已提交。": "Extension request sent.",
    "抽取": "drawn",
    "拍照": "Take a photo",
    "选择照片或文件": "Choose photos or files",
    "按公文写法填写，例如": "Write it as a notice would, in Chinese, e.g.",
    "提醒规则已保存。": "Reminder policy saved.",
    "支持三门峡附件版式和禹州台账版式的 .xlsx 文件。导入前先预览，确认后一次性全部写入。": (
        "An .xlsx file in the Sanmenxia annex layout or the Yuzhou ledger layout. You see a preview first; "
        "confirming writes every row at once."
    ),
    "整改情况": "What was done",
    "日期": "Date",
    "消息设置已保存。": "Notification settings saved.",
    "用户已添加。": "User added.",
    "立行立改每几个工作日提醒一次": "For items due at once, remind every this many working days",
    "筛选条件有误，已恢复默认。": "The filter was not valid; the defaults are back.",
    "请修改文件中的错误后重新上传；有错误时不会写入任何内容。": (
        "Correct the errors in the file and upload it again; nothing is written while there are errors."
    ),
    "请先勾选要催办的任务。": "Tick the tasks to urge first.",
    "请选择单位。": "Choose a unit.",
    "请选择要上传的文件。": "Choose a file to upload.",
    "请选择要导入的 .xlsx 台账文件。": "Choose the .xlsx ledger file to import.",
    "调休上班（工作日）": "Make-up working day",
    "返回首页": "Back to the start page",
    "逾期几个工作日后升至第三级（督办单位、通报）": "Working days overdue before level 3 (public notice)",
    "逾期几个工作日后升至第二级（主要领导）": "Working days overdue before level 2 (the head)",
    "逾期后每几个工作日催办一次": "Once overdue, urge every this many working days",
    "重新打开理由": "Why it is reopened",
    "请求有误": "Bad request",
    "没有权限": "Not allowed",
    "找不到，或不在您的权限范围内": "Not found, or not yours to see",
    "已被他人先办理或修改": "Someone else acted on this first",
    "上传内容过大": "Upload too large",
    "内容有误，请修改后重试": "Something needs correcting",
    "出错了": "Something went wrong",
    "表单内容有误：": "The form has a problem: ",
    "已上传 {n} 份": "{n} file(s) uploaded",
    "已逾期": "overdue",
    "当前状态": "Current state",
    "待督办单位签发": "to be issued by the supervising unit",
    "打印": "Print",
    "扫码查看任务": "Scan to open the task",
    "整改事项督办单": "Supervision notice for a rectification item",
    "督办编号": "Notice no.",
    "记录链校验值": "Record chain head",
    "截至": "as of",
    "{n} 条记录": "{n} history records",
    "核验": "To check it",
    "联系人": "Contact",
    "联系电话": "Telephone",
    "返回任务": "Back to the task",
    "（盖章）": "(seal)",
    "一级督办（提醒经办人、分管领导）": "Level 1 (the handler and the deputy are reminded)",
    "二级督办（提醒单位主要领导）": "Level 2 (the head of the unit is reminded)",
    "三级督办（列入通报）": "Level 3 (on the public-notice list)",
    "尚未升级": "not escalated yet",
    "督办字号": "Notice number prefix",
    "督办单联系人": "Contact for notices",
    "督办单联系电话": "Telephone for notices",
    "单位信息已保存。": "Unit saved.",
    "编辑": "Edit",
    "你单位承担的下列整改任务已超过整改时限，尚未完成整改，现予督办。": (
        "The task below is past its deadline and not yet rectified: it is hereby placed under supervision."
    ),
    "请你单位主要领导亲自过问，于收到本督办单后3个工作日内完成整改，并报送整改情况及佐证材料；": (
        "The head of your unit is asked to see to it in person, to complete it within 3 working days of receiving "
        "this notice and to report what was done, with the evidence;"
    ),
    "逾期仍未完成的，将按有关规定予以通报。": " if still not done then, it will be publicly notified.",
    "任务二维码": "QR code of the task",
    # my work (app/web/work.py, templates/_queue.html) and acting on a selection
    "我的待办": "My work",
    "待开始整改": "To start",
    "整改中，待提交": "In progress, to submit",
    "3日内到期": "Due within 3 days",
    "待报送事项": "Reports owed",
    "待核实": "To check",
    "延期待审批": "Extensions to decide",
    "报送待审核": "Reports to review",
    "逾期任务（按督办级别）": "Overdue, by supervision level",
    "事项": "Item",
    "时限": "Deadline",
    "结果": "Result",
    "查看全部": "See all",
    "没有待办事项。": "Nothing waiting.",
    "批量办理结果": "What was done with the selection",
    "已办理": "Done",
    "未办理": "Not done",
    "返回任务列表": "Back to the task list",
    "关键词": "Keyword",
    "问题、措施、整改情况或单位": "Problem, measures, account or unit",
    "对勾选的任务：": "With the ticked tasks:",
    "核实通过所选": "Verify selected",
    "销号所选": "Close selected",
    "导出所选": "Export selected",
    "选择": "Select",
    "导出": "Export",
    "请选择要执行的操作。": "Choose what to do with the ticked tasks.",
    "请先勾选任务。": "Tick the tasks first.",
    "一次最多选择 {n} 项任务。": "At most {n} tasks at a time.",
    "{action}：完成 {done} 项，未办理 {refused} 项。": "{action}: {done} done, {refused} not done.",
    "一级": "Level 1",
    "二级": "Level 2",
    "三级（通报）": "Level 3 (public notice)",
    "更多筛选条件": "More filters",
    # the inbox's pages; the admin's messages to look at
    "最新消息": "Newest messages",
    "更早的消息": "Older messages",
    "待查看的消息": "Messages to look at",
    "这里列出不能确定已经送达、或者可能重复送达的消息，最新的在前。其余消息都已送达，或仍在按时发送。": (
        "Messages that may not have arrived, or may have arrived twice, newest first. "
        "Every other message has arrived or is still going out on time."
    ),
    "发送失败，系统不再重试。请按错误信息检查收件地址或渠道设置，必要时直接联系收件人。": (
        "Sending failed and will not be tried again. Check the address or the channel's settings against "
        "the error, and contact the recipient directly if need be."
    ),
    "已交给对方服务器，但两次都没有等到确认：对方可能已经收到，也可能没有。为免重复，系统不再发送，请向收件人核实。": (
        "Handed to the far end's server twice without an answer: it may have arrived, or not. So as not to "
        "send it a third time it is not sent again; please ask the recipient."
    ),
    (
        "收件人可能收到了两份相同的消息：第一次交出后发送进程中断，没能记下结果，系统又发了一次"
        "（编号相同，多数邮件和群机器人会合并为一份）。无需处理，如收件人问起可作说明。"
    ): (
        "The recipient may have had this message twice: the sending process stopped after handing it over, "
        "before it could record that, and it was sent once more (with the same id, which most mail systems "
        "and group robots fold into one). Nothing to do; this is the explanation if the recipient asks."
    ),
    "发送失败": "Failed",
    "未确认送达": "Not confirmed",
    "可能重复送达": "Possibly sent twice",
    "时间": "Time",
    "情况": "What happened",
    "渠道": "Channel",
    "收件人": "Recipient",
    "主题": "Subject",
    "原因与处理": "Why, and what to do",
    "错误信息：": "Error: ",
    "没有需要查看的消息：都已送达或正在发送。": "Nothing to look at: every message has arrived or is going out.",
    "站内消息": "Inbox",
    "邮件": "E-mail",
    "企业微信群": "WeCom group",
    "钉钉群": "DingTalk group",
    # editing a problem
    "编辑问题": "Edit the problem",
    "保存修改": "Save the changes",
    "返回问题": "Back to the problem",
    "修改时限后，未办结任务的时限按各单位收到任务之日重新计算并记入办理记录；已批准延期的任务保持延期后的时限。": (
        "A new deadline is counted again for each open task from the day its unit received it, and written "
        "into its history; a task with an approved extension keeps the extended deadline."
    ),
    "新增的单位会收到整改任务；移出的单位，其任务将被撤销（已销号的任务不能移出）。": (
        "Units added receive a task; a unit taken off has its task withdrawn (a closed task cannot be taken off)."
    ),
    "撤销理由（移出责任单位时必填）": "Reason for withdrawing (needed when a unit is taken off)",
    "问题已修改：新增 {added} 项任务，撤销 {withdrawn} 项，{redated} 项任务的整改时限随之调整（已记入办理记录）。": (
        "Problem saved: {added} task(s) added, {withdrawn} withdrawn, and the deadline of {redated} task(s) "
        "moved with it (written into their history)."
    ),
    "整改时限修改": "Deadline changed",
    "上级督办单位也可核实、销号本方案的任务（默认只能查看）": (
        "Supervisors above may also verify and close this plan’s tasks (by default they only read it)"
    ),
    "上级督办单位只能查看": "supervisors above only read it",
    "上级督办单位可核实、销号": "supervisors above may verify and close",
    "下发后可在方案页添加本单位自查发现的问题。": (
        "Once issued, add the problems your unit found itself on the plan’s page."
    ),
    "下发答复方案": "Issue the answering plan",
    "下级整改进度": "Progress below",
    "下级答复": "Answered below",
    "下级问题核实前，收到的任务不能提交整改": "received tasks wait until the problems below are verified",
    "下级问题核实前，本单位收到的任务不能提交整改": (
        "Our received tasks cannot be marked rectified until the problems answering them below are verified"
    ),
    "不使用": "Do not use",
    "交办单位": "Assign to",
    "以答复方案报送": "Hand in the answering plan",
    "制定答复方案": "Answer with our own plan",
    "回头看": "Look-back",
    "回头看发现问题反弹": "A look-back found a problem back",
    "回头看已确认整改到位。": "Look-back recorded: the fix has held.",
    "已登记问题反弹，任务已重新交办整改。": "Rebound recorded: the task is reopened for rectification.",
    "回头看待复核": "Look-backs due",
    "回头看时限": "Look-back due",
    "回头看确认整改到位": "A look-back confirmed the fix",
    "复核情况（问题反弹时必填）": "What you found (required for a rebound)",
    "如 卢建〔2022〕45号": "e.g. 卢建〔2022〕45号",
    "已核实或销号": "Verified or closed",
    "收到的任务不等下级整改完成": "received tasks do not wait for the level below",
    "整改到位": "Fix held",
    "本单位下没有下级单位，无法交办；请联系管理员添加下级单位。": (
        "Your unit has no units under it to assign to; ask the administrator to add them."
    ),
    "本方案答复": "This plan answers",
    "确认整改到位": "Confirm the fix held",
    "第{n}项": "Item {n}",
    "{unit}整改方案": "Rectification plan of {unit}",
    "第{seqs}项未勾选交办单位：请为每项纳入的问题勾选下级单位，或不纳入该项。": (
        "Item(s) {seqs} have no unit ticked: tick the units under you for each problem carried, or leave it out."
    ),
    "答复": "answers",
    "答复单位": "Answering unit",
    "答复方案": "Answering plan",
    "答复方案已下发，所纳入的问题已交办下级单位。可继续添加本单位自查发现的问题。": (
        "The answering plan is issued and the problems carried are assigned to the units "
        "under you. You may now add the problems your unit found itself."
    ),
    "纳入本方案的问题（举一反三）": "Problems carried into this plan",
    "纳入本方案，交办下级单位": "Carry into this plan and assign below",
    "销号于": "Closed",
    "销号后几天回头看（0 为不回头看）": "Look back this many days after closure (0: no look-back)",
    "销号时间": "Closed at",
    "台账": "Ledger",
    "未完成": "Not done",
    "问题反弹": "Rebounds",
    "问题反弹，重新整改": "Problem back: reopen",
    "该任务已被重新打开，不再是销号状态，无需回头看；再次销号后将重新安排回头看。": (
        "The task was reopened and is no longer struck off, so it needs no look-back; closing it again "
        "schedules a new one."
    ),
    "下级单位答复本任务的问题尚未整改完成（须经本单位核实），暂不能提交整改。未完成：{open}": (
        "The units answering this task have not finished their problems (each checked by this unit), "
        "so it cannot be marked rectified yet. Still open: {open}"
    ),
    "任务 {id} 不是「{plan}」交给本单位的任务。": "Task {id} is not a task that {plan} gave this unit.",
    "回头看 {id} 不存在或不在您的权限范围内。": "Look-back {id} does not exist or is outside what you may see.",
    "请提供 version（整数，您读取时的版本号）；answer_plan_id 如有须为整数。": (
        "Give the version (a whole number: the version you read); answer_plan_id, if given, must be a whole number."
    ),
    "只有收到本方案任务的单位的督办人员，才能以本单位的整改方案答复。": (
        "Only the supervisors of a unit that received tasks of this plan may answer it with their unit's plan."
    ),
    "该回头看已由他人登记结果或已被修改，请刷新后查看。": (
        "Someone else recorded this look-back's result or changed it; reload the page to see it."
    ),
    "第{n}项答复：": "Answer {n}: ",
    "整个方案的记录链只有方案下发单位可以核验；请加上 unit_id（本单位），核验本单位导出的台账。": (
        "Only the plan's issuing unit may check the whole plan's record chain; add unit_id (your unit) "
        "to check the ledger your unit exported."
    ),
    "请指明范围：plan_id、unit_id 或 tasks。": "Say what to check: plan_id, unit_id or tasks.",
    # refusals of the services and state tables (app.services.errors: each template, its {places} kept)
    "{what} {id} 不存在或不在您的权限范围内。": "{what} {id} does not exist or is outside what you may see.",
    "「{move}」只能由{who}操作。": "Only {who} may {move}.",
    "「{move}」需要填写{what}。": "To {move}, write {what}.",
    "「{move}」需要填写理由。": "To {move}, give a reason.",
    "「{name}」下没有下级单位，无法分解任务。": "{name} has no units under it to assign tasks to.",
    "「{units}」的任务已撤销，不能再交办给同一单位；如需整改，请另行添加问题。": (
        "The task of {units} was withdrawn and cannot be assigned to the same unit again; add a new problem "
        "if it needs rectifying."
    ),
    "「{units}」的任务已销号，不能移出责任单位。": "The task of {units} is closed, so that unit cannot be taken off.",
    "上级单位 {id} 不存在。": "Parent unit {id} does not exist.",
    "下发单位 {id} 不存在或不在您的管辖范围内。": "Issuing unit {id} does not exist or is outside your jurisdiction.",
    "不支持的文件类型「{ext}」。可上传：{allowed}。": (
        "Files of type “{ext}” are not accepted. You can upload: {allowed}."
    ),
    "不能核实或销号自己提交整改的任务（须由他人核实）。": (
        "You cannot verify or close a task you marked rectified yourself (someone else must check it)."
    ),
    "两次输入的新密码不一致。": "The two new passwords differ.",
    "任务 {id} 未逾期，没有督办单。": "Task {id} is not overdue, so it has no supervision notice.",
    "任务已被他人修改（当前版本 {now}，您提交的是 {sent}），请刷新后重试。": (
        "Someone else changed the task (it is at version {now}, you sent {sent}). Reload the page and try again."
    ),
    "任务已被他人修改，请刷新后重试。": "Someone else changed the task. Reload the page and try again.",
    "任务当前为「{state}」，不能改为 {target}。可转入：{nexts}": (
        "The task is “{state}” and cannot move to {target}. It can move to: {nexts}"
    ),
    "任务当前为「{state}」，已不在责任单位办理中，不能再上传佐证材料。": (
        "The task is “{state}”: it is no longer with the responsible unit, so no more evidence can be uploaded."
    ),
    "任务当前为「{state}」，已不能延期或审批延期。": (
        "The task is “{state}”: its deadline can no longer be extended or an extension decided."
    ),
    "佐证材料 {ids} 不属于本任务或已被使用。": "Evidence {ids} does not belong to this task or was used already.",
    "佐证材料 {id} 不存在或不在您的权限范围内。": "Evidence {id} does not exist or is outside what you may see.",
    "单位 {id} 不在方案下发单位「{issuer}」之下。": "Unit {id} is not under the plan's issuing unit, {issuer}.",
    "单位 {id} 不存在。": "Unit {id} does not exist.",
    "单位 {id} 不存在或不在您的权限范围内。": "Unit {id} does not exist or is outside what you may see.",
    "原密码不正确。": "The current password is wrong.",
    "只有方案下发单位的督办人员可以修改提醒规则。": (
        "Only the supervisors of the plan's issuing unit may change its reminder rules."
    ),
    "只有方案下发单位的督办人员可以修改整改方案。": (
        "Only the supervisors of the plan's issuing unit may edit the plan."
    ),
    "只有方案下发单位的督办人员可以修改问题。": "Only the supervisors of the plan's issuing unit may edit a problem.",
    "只有方案下发单位的督办人员可以催办。": "Only the supervisors of the plan's issuing unit may urge a task.",
    "只有方案下发单位的督办人员可以导入台账。": "Only the supervisors of the plan's issuing unit may import a ledger.",
    "导入失败（服务器内部错误），没有写入任何内容。": (
        "The import failed (an error in the server); nothing was written."
    ),
    "只有方案下发单位的督办人员可以抽查。": "Only the supervisors of the plan's issuing unit may draw a spot check.",
    "只有方案下发单位的督办人员可以撤销问题。": (
        "Only the supervisors of the plan's issuing unit may withdraw a problem."
    ),
    "只有方案下发单位的督办人员可以设置报送要求。": (
        "Only the supervisors of the plan's issuing unit may declare a report owed."
    ),
    "只有督办人员可以下发整改方案。": "Only supervisors may issue a plan.",
    "只有系统管理员可以查看发送失败的消息。": "Only the administrator may see the messages that failed.",
    "只有系统管理员可以管理单位和用户。": "Only the administrator may manage units and users.",
    "只有系统管理员可以维护节假日表。": "Only the administrator may maintain the holiday table.",
    "只有责任单位的人员可以上传佐证材料。": "Only the responsible unit's people may upload evidence.",
    "只能由方案下发单位交办问题，或为本单位上报自查问题。": (
        "Problems are assigned by the plan's issuing unit; a unit may only report its own findings, for itself."
    ),
    "同一上级下已有名为「{name}」的单位。": "There is already a unit named {name} under the same parent.",
    "在 {start} 至 {end} 之间没有应报送的日期，请检查报送时间或截止日期。": (
        "No report falls due between {start} and {end}; check the schedule or the end date."
    ),
    "导入记录不存在或已过期，请重新上传文件。": "That import does not exist or has expired; upload the file again.",
    "工作表「{name}」在第 {widest} 列还有内容（上限 {cols} 列），请删除多余的列后再上传。": (
        "Sheet “{name}” has content in column {widest} (at most {cols} columns); delete the extra columns "
        "and upload it again."
    ),
    (
        "工作表「{name}」声明的范围达 {rows} 行 × {cols} 列（上限 {max_rows} 行、{max_cols} "
        "列），请删除多余的空行、空列后再上传。"
    ): (
        "Sheet “{name}” declares {rows} rows × {cols} columns (at most {max_rows} rows and {max_cols} "
        "columns); delete the empty rows and columns and upload it again."
    ),
    "工作表「{name}」的合并单元格过多或过大（上限 {merges} 处、共 {cells} 个单元格），不像是整改台账，已拒收。": (
        "Sheet “{name}” has too many or too large merged cells (at most {merges} ranges, {cells} cells in "
        "all); it does not look like a ledger and was refused."
    ),
    "工作表「{name}」的数据超过 {rows} 行，请拆分成多个文件分批导入。": (
        "Sheet “{name}” has more than {rows} rows of data; split it into several files and import them one by one."
    ),
    "工作表「{name}」超过 {rows} 行（含空行），请删除多余的空行后再上传。": (
        "Sheet “{name}” has more than {rows} rows (empty ones included); delete the extra rows and upload it again."
    ),
    "年份 {year} 超出范围（2000–2100）。": "Year {year} is out of range (2000–2100).",
    "延期后的时限必须是具体日期，例如「8月31日」。": (
        "An extended deadline must be a date, such as 8月31日 (31 August)."
    ),
    "延期后的时限必须晚于当前时限和今天。": (
        "An extended deadline must be later than the present deadline and than today."
    ),
    "延期申请 {id} 不存在或不在您的权限范围内。": (
        "Extension request {id} does not exist or is outside what you may see."
    ),
    "所选任务都不能催办：": "None of the selected tasks can be urged: ",
    "任务 {id}：": "Task {id}: ",
    "；": "; ",
    "第 {row} 行：": "Row {row}: ",
    "报送事项 {id} 没有附带文件。": "Report {id} has no file attached.",
    "报送单位 {ids} 不存在或不在方案下发单位「{issuer}」之下。": (
        "Reporting units {ids} do not exist or are not under the plan's issuing unit, {issuer}."
    ),
    "报送需要附上文件或填写说明。": "A report needs a file or a note.",
    "抽查记录 {id} 不存在或不在您的权限范围内。": "Spot-check item {id} does not exist or is outside what you may see.",
    "提交整改需要至少一份佐证材料（先上传照片或文件）。": (
        "Marking it rectified needs at least one piece of evidence (upload a photo or a file first)."
    ),
    "提醒设置{reason}": "Reminder settings: {reason}",
    "提醒设置「{setting}」{reason}": "Reminder setting {setting}: {reason}",
    "整改方案 {id} 的抽查记录不存在或不在您的权限范围内。": (
        "The spot checks of plan {id} do not exist or are outside what you may see."
    ),
    "整改方案已被他人修改，请刷新后重试。": "Someone else changed the plan. Reload the page and try again.",
    "文件中含有 XML 文档类型/实体声明（DTD），正常的 Excel/WPS 文件不会有，已拒收。": (
        "The file contains an XML document type or entity declaration (DTD), which no Excel or WPS file has; "
        "it was refused."
    ),
    "文件内容不是 .xlsx 表格（例如是改了扩展名的 PDF 或图片），已拒收。": (
        "The file is not an .xlsx workbook (for instance a PDF or a picture renamed); it was refused."
    ),
    "文件内容不是 .xlsx 表格（是其他类型的压缩包），已拒收。": (
        "The file is not an .xlsx workbook (it is another kind of archive); it was refused."
    ),
    "文件内容与扩展名 .{ext} 不符（识别为 {actual}），已拒收。": (
        "The file's content does not match its extension .{ext} (it reads as {actual}); it was refused."
    ),
    "文件内部包含 {n} 个部件（上限 {most}），疑似恶意压缩文件，已拒收。": (
        "The file holds {n} parts (at most {most}); it looks like a malicious archive and was refused."
    ),
    "文件是空的。": "The file is empty.",
    "文件解压后达 {mb} MB（上限 {most} MB），疑似压缩炸弹，已拒收。": (
        "The file unpacks to {mb} MB (at most {most} MB); it looks like a zip bomb and was refused."
    ),
    "文件超过 {mb} MB 的上限。": "The file is larger than the {mb} MB limit.",
    "文件部件「{part}」不是 UTF-8 编码的 XML，已拒收。": "Part “{part}” of the file is not UTF-8 XML; it was refused.",
    "文件部件「{part}」压缩比异常（超过 {ratio} 倍），疑似压缩炸弹，已拒收。": (
        "Part “{part}” of the file is compressed more than {ratio} times; it looks like a zip bomb and was refused."
    ),
    "新密码至少 8 个字符。": "The new password needs at least 8 characters.",
    "无法读取该 .xlsx 文件，请在 Excel/WPS 中打开后另存为 .xlsx 再上传。": (
        "This .xlsx file cannot be read; open it in Excel or WPS, save it as .xlsx again and upload that."
    ),
    "有 {n} 行存在错误，请在表格中改正后重新上传。": (
        "{n} row(s) have errors; correct them in the sheet and upload it again."
    ),
    "本方案已有序号为 {seq} 的问题。": "This plan already has a problem numbered {seq}.",
    "本方案还没有已核实或已销号的任务，无可抽查。": (
        "This plan has no verified or closed task yet, so there is nothing to spot-check."
    ),
    "样本数应在 1 到 500 之间。": "The sample size must be between 1 and 500.",
    "没有找到台账表头。支持的表头：{headers}（须在前 {rows} 行内）。": (
        "No ledger header found. The headers understood: {headers} (within the first {rows} rows)."
    ),
    "没有需要报送的单位。": "No unit owes this report.",
    "用户名「{name}」已被使用。": "The username {name} is taken.",
    "用户名或密码不正确。": "Wrong username or password.",
    "登录失败次数过多，请 15 分钟后再试。": "Too many failed sign-ins; try again in 15 minutes.",
    "移出责任单位会撤销该单位的任务，请填写撤销理由。": (
        "Taking a unit off withdraws its task: give the reason for withdrawing it."
    ),
    "第 {row} 行：只有方案下发单位可以修改问题内容": (
        "Row {row}: only the plan's issuing unit may change a problem's wording"
    ),
    "表格中没有新增或修改的问题，没有可导入的内容。": (
        "The sheet adds or changes no problem; there is nothing to import."
    ),
    "解析该文件超过 {seconds} 秒的处理时间上限，已停止。请检查文件是否含有大量空行或合并单元格。": (
        "Reading the file took longer than the {seconds} s limit and was stopped. Check whether it has very "
        "many empty rows or merged cells."
    ),
    "设置群机器人需要提供 webhook 地址 (url)。": "A group robot needs its webhook address (url).",
    "该{record}尚不存在，不能{move}。请刷新后查看。": (
        "This {record} does not exist yet: you cannot {move} it. Reload the page to see it."
    ),
    "该{record}当前为「{state}」，不能{move}。请刷新后查看。": (
        "This {record} is “{state}”: you cannot {move} it now. Reload the page to see it."
    ),
    "该任务已于 {day} 催办过，每个工作日只能催办一次。": (
        "The task was urged on {day} already; a task is urged at most once per working day."
    ),
    "该任务已整改完毕或已销号，无需催办。": "The task is rectified or closed already: there is nothing to urge.",
    "该台账已经提交过导入，请重新上传文件。": (
        "This ledger has been submitted for import already; upload the file again."
    ),
    "该延期申请或其任务已被他人处理，请刷新后查看。": (
        "Someone else has dealt with this extension request or its task; reload the page to see it."
    ),
    "该报送事项已被他人修改，请刷新后重试。": "Someone else changed this report. Reload the page and try again.",
    "该抽查任务已由他人登记复核结果，请刷新后查看。": (
        "Someone else has recorded this re-check already; reload the page to see it."
    ),
    "该问题的任务均已销号或已撤销，没有可撤销的任务。": (
        "Every task of this problem is closed or withdrawn already: there is nothing to withdraw."
    ),
    "请以 multipart/form-data 上传，字段名为 file。": "Upload it as multipart/form-data, in a field named file.",
    "请提供 version（整数，您读取时的版本号）。": "Give the version (a whole number: the version you read).",
    "责任单位 {ids} 不存在或不在方案下发单位「{issuer}」之下。": (
        "Responsible units {ids} do not exist or are not under the plan's issuing unit, {issuer}."
    ),
    "这是旧版 .xls 文件或设有打开密码的文件。请在 Excel/WPS 中另存为不加密的 .xlsx 后再上传。": (
        "This is an old .xls file or one with an opening password. Save it in Excel or WPS as an unencrypted "
        ".xlsx and upload that."
    ),
    "通知 {id} 不存在。": "Message {id} does not exist.",
    "问题已被他人修改，请刷新后查看最新内容再修改。": (
        "Someone else changed the problem first. Reload the page to see what it says now, then edit it again."
    ),
    "{field}：{what}（{char}）。": "{field}: {what} ({char}).",
    "含有不可见的控制字符（如 NUL），请删除后重试": (
        "contains an invisible control character (such as NUL); remove it and try again"
    ),
    "无法识别的整改时限「{text}」。可接受的写法：{forms}": (
        "The deadline “{text}” cannot be read. Forms understood: {forms}"
    ),
    "整改时限为空。可接受的写法：{forms}": "The deadline is empty. Forms understood: {forms}",
    "整改时限「{text}」不是有效日期。可接受的写法：{forms}": (
        "The deadline “{text}” is not a valid date. Forms understood: {forms}"
    ),
    "无法识别的报送周期「{text}」。可接受的写法：{forms}": (
        "The reporting schedule “{text}” cannot be read. Forms understood: {forms}"
    ),
    # 签收 and 转办: refusals
    "任务当前为「{state}」，已不能{move}。": "The task is now “{state}”: you cannot {move} it any more.",
    "「{move}」只能由下发方案单位的督办人员操作。": "Only the supervisors of the plan's issuing unit may {move} it.",
    "任务当前为「{state}」，责任单位已开始办理，不能再{move}。": (
        "The task is now “{state}”: its unit has started on it, so you cannot {move} it any more."
    ),
    "单位 {ids} 不存在，或不在本方案下发单位的管辖范围内。": (
        "Unit(s) {ids} do not exist, or are not under the unit that issued this plan."
    ),
    "{units}已有该问题的整改任务。": "{units} already have a task of this problem.",
    "只有责任单位的人员可以签收任务。": "Only the responsible unit's people acknowledge its tasks.",
    "该方案没有待本单位签收的任务。": "Your unit has no task of this plan to acknowledge.",
    "缩小范围需要写明本单位的整改范围。": "Narrowing needs the scope it leaves to the unit.",
    "转办需要填写理由。": "Reassigning needs a reason.",
    "分办需要填写理由。": "Splitting needs a reason.",
    "请选择分办的责任单位。": "Choose the units to split it with.",
    # 签收 and 转办
    "签收": "Acknowledge",
    "拒收（提出异议）": "Decline (object)",
    "维持交办": "Insist",
    "缩小范围": "Narrow the scope",
    "转办": "Reassign",
    "分办": "Split",
    "待签收": "To acknowledge",
    "已签收": "Acknowledged",
    "已拒收（待下发单位处理）": "Declined (the issuing unit decides)",
    "维持交办（待签收）": "Assignment stands (to acknowledge)",
    "签收时限": "Acknowledge by",
    "逾期未签收，督办{n}级": "Not acknowledged in time: level {n}",
    "本单位整改范围": "Scope for this unit",
    "签收与转办": "Receipt and reassignment",
    "拒收理由": "Why you decline it",
    "维持交办理由": "Why the assignment stands",
    "调整说明": "What changed",
    "转办至": "Reassign to",
    "转办理由": "Why it is reassigned",
    "同时交由以下单位整改（分办）": "Also give it to these units (split)",
    "分办理由": "Why it is split",
    "本单位在本方案中有 {n} 项任务待签收。": "Your unit has {n} task(s) of this plan to acknowledge.",
    "签收全部": "Acknowledge all",
    "逐项查看": "See them one by one",
    "已签收。": "Acknowledged.",
    "已拒收，等待下发单位处理。": "Declined; the issuing unit will decide.",
    "已维持交办，责任单位将收到通知。": "The assignment stands; the unit will be told.",
    "已调整整改范围，责任单位将收到通知。": "Scope changed; the unit will be told.",
    "已转办至{unit}。": "Reassigned to {unit}.",
    "已分办，新增{n}项任务。": "Split: {n} new task(s).",
    "已签收{n}项任务。": "{n} task(s) acknowledged.",
    "表单缺少任务版本，请刷新页面后重试。": "The form has no task version: reload the page and try again.",
    "请选择转办的责任单位。": "Choose the unit to reassign it to.",
    "任务被拒收，待下发单位决定": "A task declined, for the issuing unit to decide",
    "拒收的任务被维持交办": "A declined task insisted on",
    "任务的整改范围被调整": "A task's scope changed",
    "任务转办": "A task reassigned",
    "签收人": "Acknowledged by",
    "签收情况": "Acknowledgement",
    "已拒收，待决定": "Declined, to decide",
    "{who}于{when}签收": "Acknowledged by {who} on {when}",
    "签收时限（收到任务后几个工作日内签收）": "Days to acknowledge a task (working days after it arrives)",
    "逾期未签收几个工作日后告知主要领导": "Working days unacknowledged before the head is told",
    "逾期未签收几个工作日后告知下发单位": "Working days unacknowledged before the issuing unit is told",
    "（即签收）": "(acknowledging it)",
    "逾期未签收，督办升级至第{level}级": "Not acknowledged in time: escalated to level {level}",
    # drafted documents: refusals
    "只读账号不能上传模板。": "A read-only account cannot upload templates.",
    "请选择要上传的 .docx 模板文件。": "Choose the .docx template to upload.",
    "模板种类应为 {kinds} 之一，而不是「{kind}」。": "The kind of template is one of {kinds}, not {kind}.",
    "日期「{text}」应写作 YYYY-MM-DD，如 2022-06-20。": "Write the day {text} as YYYY-MM-DD, e.g. 2022-06-20.",
    "该报送事项不是“从台账生成”的定期报告。": "This report is not one owed from the ledger.",
    "只有方案下发单位的督办人员可以起草通报。": "Only the issuing unit's supervisors may draft the public notice.",
    "模板文件超过 {mb} MB。": "The template is larger than {mb} MB.",
    "模板不是有效的 .docx 文件（无法作为 zip 打开），请在 Word 或 WPS 中另存为 .docx 后重新上传。": (
        "The template is not a valid .docx file (it does not open as a zip): save it as .docx in Word or WPS "
        "and upload it again."
    ),
    "模板不是 Word 文档（压缩包中没有 word/document.xml），请上传 .docx 文件。": (
        "The template is not a Word document (the zip has no word/document.xml): upload a .docx file."
    ),
    "模板无法作为 Word 文档打开：{reason}": "The template does not open as a Word document: {reason}",
    "模板标签「{tag}」没有闭合（缺少「{close}」）。": "The template tag {tag} is not closed (no {close}).",
    "模板标签「{tag}」没有对应的结束标签（{end}）。": "The template tag {tag} has no closing tag ({end}).",
    "模板标签「{tag}」无法识别：{reason}。": "The template tag {tag} is not known: {reason}.",
    "模板标签「{tag}」有语法错误：{reason}。": "The template tag {tag} has a syntax error: {reason}.",
    "模板标签「{tag}」中的变量「{name}」不存在。可用的变量：{known}。": (
        "The variable {name} in the template tag {tag} does not exist. Variables: {known}."
    ),
    "模板标签「{tag}」引用了不存在的字段：{reason}。": (
        "The template tag {tag} names a field that does not exist: {reason}."
    ),
    "模板引用了不存在的字段：{reason}。": "The template names a field that does not exist: {reason}.",
    "模板无法生成文档：{reason}": "The template cannot make the document: {reason}",
    # drafted documents
    "上传于": "uploaded",
    "上传修改后的模板": "Upload an edited template",
    "上传模板": "Upload template",
    "下载": "Download",
    "下载报告（Word）": "Download the report (Word)",
    "下载模板": "Download template",
    "从台账生成": "from the ledger",
    "从台账生成（各期报告由台账变化自动起草，单位只需填写说明）": (
        "From the ledger (each report is drafted from what changed in the ledger; the unit adds only a note)"
    ),
    "否，由单位自行撰写": "No, the unit writes it",
    "当前模板": "Template in use",
    "截至日期": "As of",
    "报告模板": "Report templates",
    "报告由本期台账变化自动生成，只需填写说明。": (
        "The report is drafted from this period's ledger changes: add only your note."
    ),
    "报送期间": "Period",
    "文书": "Document",
    "是": "Yes",
    "未选文件时附上起草的报告": "Without a file, attach the drafted report",
    "本期台账变化": "This period's ledger changes",
    "本期台账无变化。": "No change in the ledger this period.",
    "起草报告（Word）": "Draft the report (Word)",
    "起草整改情况报告（Word）": "Draft the rectification report (Word)",
    "在 Word 或 WPS 中修改模板（保留 {{ }} 和 {% %} 标签）后上传，本单位的文书即按此起草。": (
        "Drafted documents follow your unit's template: download it, edit its words and layout in Word or WPS "
        "(keep the {{ }} and {% %} tags), and upload it again."
    ),
    "起草通报（Word）": "Draft the public notice (Word)",
    "返回报送": "Back to reports",
    "默认模板": "Default template",
    "整改情况报告": "Rectification report",
    "从台账生成的定期报告": "Recurring report from the ledger",
    "通报（草稿）": "Public notice (draft)",
    "模板已上传，今后起草将使用该模板。": "Template uploaded: drafts now use it.",
}


# The words a refusal's values name (a step, a side, a record), as the English sentence
# around them needs them: apart from EN, where the same words are a button's or a heading's.
REFUSAL_WORDS = {
    "开始整改": "start the work",
    "提交整改": "mark it rectified",
    "核实通过": "verify it",
    "重新整改": "reopen it",
    "撤销": "withdraw it",
    "整改情况说明": "an account of the rectification",
    "理由": "a reason",
    "责任单位经办人员": "the responsible unit's people",
    "下发方案单位的督办人员": "the supervisors of the plan's issuing unit",
    "无": "none",
    "报送事项": "report",
    "抽查任务": "spot-check item",
    "延期申请": "extension request",
    "责任单位人员": "the responsible unit's people",
    "报送": "hand in",
    "审核通过": "accept",
    "退回": "return",
    "登记复核通过": "record as passed",
    "登记复核不通过": "record as failed",
    "申请延期": "ask for an extension of",
    "批准延期": "grant an extension of",
    "不予延期": "refuse an extension of",
    "销号": "close",
    "退回整改": "send it back",
    # 签收 and 转办: the words a refusal names
    "任务签收": "task's receipt",
    "签收": "acknowledge",
    "拒收": "decline",
    "维持交办": "insist on",
    "缩小范围": "narrow",
    "转办": "reassign",
    "分办": "split",
}


def translate(text: str, lang: str) -> str:
    return EN.get(text, text) if lang == "en" else text


def worded_status(status: dict, lang: str) -> dict:
    """A ledger import's status (app.services.ledger.import_status) with its refusal, if it
    failed, worded in ``lang``."""
    return {**status, "error": refusal(status["error"], lang) if status["error"] else None}


def refusal(err, lang: str) -> str:
    """A service's refusal (app.services.errors.ServiceError: templates and their values)
    in ``lang``: each template through this catalogue, each value that is one of its words
    too (a state's name, a side), a value worded in both languages in the one asked for;
    names people gave (units, files) stay as they are."""

    def value(v):
        if hasattr(v, "en") and hasattr(v, "zh"):  # app.services.errors.Words
            return v.en if lang == "en" else v.zh
        if not isinstance(v, str):
            return v
        return REFUSAL_WORDS.get(v, translate(v, lang)) if lang == "en" else v

    return "".join(
        translate(template, lang).format(**{k: value(v) for k, v in params.items()})
        if params
        else translate(template, lang)
        for template, params in err.parts
    )
