"""Deterministic, vectorised generator of realistic raw data for the scrm warehouse.

The model, per customer (processed in fixed chunks of customers, each with its own seeded RNG):

* A latent segment drives everything: prospect (never orders, ~35%), light (1-3 orders), loyal,
  heavy (a household replenishing several periodic categories) and reseller (团长 / 代购 running
  many parallel habits). Engagement is heavy-tailed and follows the segment, so the averages
  (~10 orders, ~50 interactions, ~3 friend events per customer) come from a small tail.
* Registrations grow over the span; most customers add a staff member on WeCom around
  registration (some never do), a few delete and re-add, engaged ones add several staff.
* Orders are "habits": a (customer, category) stream that repeats at the category's consumption
  cycle (face mask 30 days, formula 15, ...) until the customer churns; durable goods rarely
  repeat. Each order has 1..n lines, a discount on ~40% of orders, and a status timeline
  (created -> paid -> confirmed, created -> cancelled, paid -> refunded) cut at the export time.
* Interactions happen in bursts of a few days, only while the customer is a friend.
* WeCom customer groups (one per 15 customers, 3 to 300), a few dismissed: each draws 30 to
  500 members (fewer when fewer friends are there) among the customers who are friends while
  it exists, engaged ones more often; a fifth of the members leave before its end.
* Optionally, contract-violating rows are spliced in (BAD_KINDS; BAD_SPECS says which kinds
  apply to which source and which column each one corrupts).
* The history is written as one whole file per source, or as a landing folder of daily
  deliveries (`<source>/YYYY-MM-DD.csv`): every row in the delivery of the day it last changed,
  plus earlier versions of orders (a day per status change, with their lines each time),
  customers (member level upgrades, city moves), a few products (a corrected consumption
  cycle) and the dismissed groups (as created), dated by `updated_at`. Both draw the same
  rows from the same seed; the versions come from their own random streams, so the whole
  files stay byte-identical. So do the groups and their members: the other sources' files
  are those of a run without them.

All values are written as text, timestamps as local Asia/Shanghai time without offset, except
~5% of rows which carry an explicit offset (+08:00 or the same instant in +00:00).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from orchestration.csv_text import csv_lines
from orchestration.generated_identities import MultiIds, wecom_ids
from orchestration.language import N_, _, padded
from orchestration.raw_contract import load_contract

# Fixed so that output never depends on anything but the arguments: changing it changes data.
CHUNK_SIZE = 50_000
# Rows per CSV serialisation slice: keeps each joined Arrow string buffer far below 2 GiB.
CSV_SLICE = 500_000

DAY = 86_400
TZ_S = 8 * 3600  # Asia/Shanghai has no DST
I64 = np.int64

SOURCES = (
    "customers",
    "products",
    "orders",
    "order_items",
    "friend_events",
    "interactions",
    "groups",
    "group_members",
    "tag_library",
    "staff_tags",
)

# ---------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------

# (province, city, weight). Tier 1 first, then provincial capitals, then smaller cities.
CITIES: tuple[tuple[str, str, float], ...] = (
    ("北京市", "北京市", 4.5),
    ("上海市", "上海市", 4.5),
    ("广东省", "广州市", 4.0),
    ("广东省", "深圳市", 4.0),
    ("浙江省", "杭州市", 2.6),
    ("江苏省", "南京市", 2.2),
    ("四川省", "成都市", 2.6),
    ("湖北省", "武汉市", 2.2),
    ("陕西省", "西安市", 1.8),
    ("湖南省", "长沙市", 1.8),
    ("河南省", "郑州市", 1.8),
    ("重庆市", "重庆市", 2.2),
    ("天津市", "天津市", 1.6),
    ("山东省", "济南市", 1.3),
    ("福建省", "福州市", 1.1),
    ("安徽省", "合肥市", 1.3),
    ("辽宁省", "沈阳市", 1.1),
    ("云南省", "昆明市", 1.0),
    ("江西省", "南昌市", 0.9),
    ("广西壮族自治区", "南宁市", 0.9),
    ("河北省", "石家庄市", 0.9),
    ("山西省", "太原市", 0.7),
    ("贵州省", "贵阳市", 0.7),
    ("黑龙江省", "哈尔滨市", 0.8),
    ("吉林省", "长春市", 0.6),
    ("内蒙古自治区", "呼和浩特市", 0.4),
    ("新疆维吾尔自治区", "乌鲁木齐市", 0.4),
    ("甘肃省", "兰州市", 0.4),
    ("海南省", "海口市", 0.4),
    ("宁夏回族自治区", "银川市", 0.2),
    ("青海省", "西宁市", 0.15),
    ("西藏自治区", "拉萨市", 0.1),
    ("江苏省", "苏州市", 2.0),
    ("江苏省", "无锡市", 1.0),
    ("江苏省", "徐州市", 0.7),
    ("浙江省", "宁波市", 1.2),
    ("浙江省", "温州市", 1.0),
    ("浙江省", "金华市", 0.8),
    ("广东省", "东莞市", 1.3),
    ("广东省", "佛山市", 1.2),
    ("广东省", "珠海市", 0.5),
    ("广东省", "汕头市", 0.6),
    ("山东省", "青岛市", 1.3),
    ("山东省", "烟台市", 0.6),
    ("山东省", "潍坊市", 0.6),
    ("福建省", "厦门市", 0.9),
    ("福建省", "泉州市", 0.8),
    ("河南省", "洛阳市", 0.6),
    ("湖北省", "宜昌市", 0.4),
    ("湖南省", "株洲市", 0.4),
    ("四川省", "绵阳市", 0.4),
    ("河北省", "保定市", 0.6),
    ("河北省", "唐山市", 0.5),
    ("安徽省", "芜湖市", 0.4),
    ("江西省", "赣州市", 0.5),
    ("辽宁省", "大连市", 0.8),
    ("广西壮族自治区", "桂林市", 0.4),
    ("陕西省", "宝鸡市", 0.3),
    ("贵州省", "遵义市", 0.4),
)


@dataclass(frozen=True)
class Category:
    name: str
    cycle_days: int | None  # None: durable good, no replenishment cycle
    topic: str
    price_yuan: tuple[int, int]
    sku_names: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "面膜",
        30,
        "护肤",
        (59, 199),
        (
            "玻尿酸补水面膜 5片装",
            "烟酰胺亮肤面膜 10片装",
            "积雪草舒缓面膜 5片装",
            "清洁泥膜 100g",
            "熬夜修护睡眠面膜 80g",
            "神经酰胺屏障面膜 10片装",
            "胶原蛋白紧致面膜 5片装",
        ),
    ),
    Category(
        "精华",
        60,
        "护肤",
        (199, 699),
        (
            "烟酰胺精华液 30ml",
            "玻色因抗老精华 30ml",
            "维C亮白精华 20ml",
            "二裂酵母修护精华 50ml",
            "视黄醇夜间精华 30ml",
            "积雪草舒缓精华 30ml",
        ),
    ),
    Category(
        "洁面",
        45,
        "护肤",
        (49, 129),
        (
            "氨基酸洁面乳 120g",
            "控油洁面慕斯 150ml",
            "温和卸妆洁面膏 100g",
            "敏感肌洁面啫喱 150ml",
            "男士清爽洁面 120g",
        ),
    ),
    Category(
        "防晒",
        90,
        "护肤",
        (89, 259),
        (
            "清透防晒乳 SPF50+ 50ml",
            "户外防水防晒霜 SPF50+ 60ml",
            "敏感肌物理防晒 40ml",
            "儿童温和防晒乳 SPF35 50ml",
            "防晒喷雾 SPF50+ 150ml",
        ),
    ),
    Category(
        "纸尿裤",
        20,
        "母婴",
        (89, 189),
        (
            "婴儿纸尿裤 NB码 84片",
            "婴儿纸尿裤 S码 72片",
            "婴儿纸尿裤 M码 64片",
            "婴儿纸尿裤 L码 52片",
            "婴儿拉拉裤 XL码 44片",
            "婴儿拉拉裤 XXL码 38片",
        ),
    ),
    Category(
        "奶粉",
        15,
        "母婴",
        (199, 429),
        (
            "婴幼儿配方奶粉 1段 800g",
            "婴幼儿配方奶粉 2段 800g",
            "婴幼儿配方奶粉 3段 800g",
            "儿童成长奶粉 4段 800g",
            "有机婴幼儿奶粉 2段 800g",
            "A2蛋白奶粉 3段 900g",
        ),
    ),
    Category(
        "儿童安全座椅",
        None,
        "出行安全",
        (899, 2999),
        (
            "儿童安全座椅 ISOFIX 0-4岁",
            "儿童安全座椅 360°旋转 0-7岁",
            "增高垫安全座椅 3-12岁",
            "提篮式婴儿安全座椅 0-15月",
        ),
    ),
    Category(
        "车载用品",
        None,
        "出行安全",
        (29, 399),
        (
            "车载手机支架",
            "车载空气净化器",
            "汽车座椅保护垫",
            "车载儿童后视镜",
            "车载冰箱 20L",
            "车载吸尘器",
        ),
    ),
    Category(
        "儿童安全用品",
        None,
        "出行安全",
        (19, 199),
        (
            "防撞角 20只装",
            "抽屉安全锁 10只装",
            "插座保护盖 30只装",
            "儿童防走失手环",
            "婴儿床护栏 1.8m",
        ),
    ),
    Category(
        "护肤礼盒",
        None,
        "护肤",
        (299, 999),
        ("补水保湿礼盒", "抗老修护礼盒", "新年限定礼盒", "母亲节感恩礼盒"),
    ),
)
N_CAT = len(CATEGORIES)
CAT_SKIN = np.array([c.topic == "护肤" for c in CATEGORIES])
CAT_BABY = np.array(
    [c.name in ("纸尿裤", "奶粉", "儿童安全座椅", "儿童安全用品") for c in CATEGORIES]
)
CAT_CAR = np.array([c.name in ("车载用品", "儿童安全座椅") for c in CATEGORIES])
# Base popularity of each category before the customer's own profile multiplies it.
CAT_BASE = np.array([1.0, 0.6, 0.7, 0.5, 0.25, 0.2, 0.06, 0.3, 0.12, 0.15])

TOPICS = ("护肤", "母婴", "出行安全", "新品", "促销", "售后")
N_CONTENT = 240

GENDERS = ("F", "M", "U")
GENDER_P = (0.68, 0.22, 0.10)
IDENTITIES = ("宝妈", "学生", "上班族", None)
# Identity probabilities per gender (F, M, U).
IDENTITY_P = ((0.36, 0.12, 0.28, 0.24), (0.0, 0.16, 0.44, 0.40), (0.10, 0.08, 0.12, 0.70))
SKIN_TYPES = ("干性", "油性", "混合性", "敏感性", None)
SKIN_P = (0.18, 0.15, 0.22, 0.12, 0.33)
MEMBER_LEVELS = ("普通会员", "银卡", "金卡", "黑金")
MEMBER_SPEND_CENTS = (100_000, 500_000, 2_000_000)  # lifetime spend for 银卡 / 金卡 / 黑金

SALES_CHANNELS = ("wechat_shop", "mini_program", "douyin_shop", "offline_store")
SALES_CHANNEL_P = (0.35, 0.33, 0.18, 0.14)

N_STORE_CODES = 12
ACQ_CHANNELS: tuple[tuple[str, str, float], ...] = (
    *((f"livecode_store_{i:02d}", f"门店活码{i:02d}", 0.30 / N_STORE_CODES) for i in range(1, 13)),
    ("parcel_card", "包裹卡", 0.24),
    ("official_account", "公众号", 0.15),
    ("douyin", "抖音引流", 0.14),
    ("offline_event", "线下活动", 0.10),
    ("customer_referral", "老客推荐", 0.07),
)

FRIEND_EVENT_TYPES = ("add", "delete_by_customer", "delete_by_staff")
ORDER_STATUSES = ("created", "paid", "confirmed", "cancelled", "refunded")
INTERACTION_TYPES = (
    "chat_in",
    "chat_out",
    "group_message",
    "moment_like",
    "moment_comment",
    "content_open",
    "share",
    "invite",
    "review",
    "survey_answer",
)
INTERACTION_P = (0.24, 0.24, 0.15, 0.10, 0.03, 0.15, 0.04, 0.01, 0.025, 0.015)
# Interactions that happen with a staff member (1:1 chat, their group, their moments, invites).
INTERACTION_HAS_STAFF = np.array([1, 1, 1, 1, 1, 0, 0, 1, 0, 0], bool)
IT_CHAT_IN, IT_CHAT_OUT, IT_CONTENT = 0, 1, 5

# Activity by hour of day (local time): mornings, lunch, and a big evening peak.
_HOUR_AM = [1.0, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3.5, 4.2, 4.5]
_HOUR_PM = [4.0, 3.8, 3.8, 3.9, 3.8, 3.6, 3.8, 4.5, 5.5, 6.0, 5.0, 2.8]
HOUR_W = np.array([*_HOUR_AM, *_HOUR_PM])
HOUR_CUM = np.cumsum(HOUR_W / HOUR_W.sum())

# Customer segments: prospect (never orders), light, loyal, heavy (a household replenishing
# several periodic categories) and reseller (团长 / 代购 running parallel habits for others).
SEG_PROSPECT, SEG_LIGHT, SEG_LOYAL, SEG_HEAVY, SEG_RESELLER = range(5)
SEG_P = np.array([0.35, 0.375, 0.17, 0.08, 0.025])
_SEG_ENG_RAW = np.array([0.3, 0.6, 1.5, 3.5, 6.0])
SEG_ENG = _SEG_ENG_RAW / float(SEG_P @ _SEG_ENG_RAW)  # mean engagement is 1
ENG_SIGMA = 0.6
SEG_FRIEND = np.array([0.78, 0.86, 0.92, 0.97, 0.99])
SEG_P_STOP = np.array([1.0, 0.6, 0.15, 0.02, 0.01])  # chance a buying habit stops per order
# Buying habits per buyer: base + Poisson(extra * orders_per_customer / 10) (calibrated).
SEG_STREAMS_BASE = np.array([0, 1, 1, 3, 4])
SEG_STREAMS_EXTRA = np.array([0.0, 0.0, 1.0, 3.0, 21.0])
P_CANCEL = 0.05
P_REFUND = 0.03
P_DISCOUNT = 0.40
P_OFFSET_TS = 0.05  # rows whose timestamps carry an explicit UTC offset
P_DEL_CUSTOMER = 0.105  # before the cut at the export time, ~8% of friendships end this way
P_DEL_STAFF = 0.026
P_READD = 0.3
FRIEND_EXTRA_POWER = 1.75
MAX_EXTRA_STAFF = 60
FRIENDSHIP_EVENTS = 1.12  # events per friendship (add + deletions + re-adds), measured
EVENTS_PER_BURST = 6.0

# WeCom customer groups (客户群), run by staff for the brand's friends. A group's name is its
# theme, numbered from the second group of a theme on ("会员福利群", "会员福利群 2").
GROUP_THEMES: tuple[tuple[str, float], ...] = (
    ("会员福利群", 0.16),
    ("宝妈育儿交流群", 0.12),
    ("新品试用群", 0.10),
    ("护肤心得交流群", 0.10),
    ("限时秒杀群", 0.10),
    ("VIP专属服务群", 0.07),
    ("门店粉丝群", 0.08),
    ("母婴好物团购群", 0.07),
    ("车品好物分享群", 0.05),
    ("老客回馈群", 0.06),
    ("直播预告群", 0.05),
    ("敏感肌护理交流群", 0.04),
)
CUSTOMERS_PER_GROUP = 15  # 200 groups for 3,000 customers, 13 for 200
GROUPS_RANGE = (3, 300)  # a brand runs hundreds of groups, not thousands
GROUP_SIZE_RANGE = (30, 500)  # members a group draws, capped by the friends there are
GROUP_SIZE_MEDIAN = 60
GROUP_SIZE_SIGMA = 0.8
P_GROUP_DISMISSED = 0.06  # and at least one group
GROUP_EVENT_TYPES = ("join", "leave")
JOIN_SCENES = ("invited", "qr_code", "link")
JOIN_SCENE_P = (0.5, 0.35, 0.15)
P_LEAVE_GROUP = 0.2  # members who leave a group of their own accord (if before its end)
LEAVE_AFTER_DAYS = 60.0  # mean stay of those who leave

# Staff-entered tags (个人标签 / 企业标签): the corp's tag library by group, each tag with its
# weight within the group. Tag names are unique across groups. 客户身份 mostly follows what the
# customer said in the survey (customers.identity); 宝宝年龄 goes with 宝妈.
STAFF_TAG_GROUPS: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("客户身份", (("宝妈", 0.4), ("上班族", 0.3), ("学生", 0.15), ("孕期", 0.1), ("退休", 0.05))),
    ("宝宝年龄", (("0-1岁", 0.3), ("1-2岁", 0.3), ("2-3岁", 0.25), ("3岁以上", 0.15))),
    (
        "兴趣偏好",
        (
            ("护肤", 0.3),
            ("母婴好物", 0.2),
            ("彩妆", 0.15),
            ("敏感肌", 0.15),
            ("不喜欢香味", 0.12),
            ("车品", 0.08),
        ),
    ),
    ("活动意向", (("想参加活动", 0.35), ("等直播", 0.3), ("要试用装", 0.2), ("双11意向", 0.15))),
    ("服务记录", (("投诉过", 0.3), ("申请过退款", 0.25), ("催过发货", 0.25), ("物流不满", 0.2))),
)
# The groups a tagged customer's further tags come from, and their weights.
STAFF_TAG_OTHER_GROUPS = {"兴趣偏好": 0.5, "活动意向": 0.3, "服务记录": 0.2}
# Our nightly sync's tags come back in the same feed: the group the brand files them under
# (dbt var wecom_sync_tag_group) and some segments' meta.segment.wecom_tag.
SYNC_TAG_GROUP = "自动标签"
SYNCED_TAGS = ("未购新客", "流失客户", "高价值", "面膜复购")
P_STAFF_TAGGED = 0.2  # friends whom staff tag by hand
P_SYNC_TAGGED = 0.1  # friends our sync tagged
STAFF_TAGS_EXTRA = 1.2  # tags beyond the identity tag (at least one without it), Poisson
P_IDENTITY_TAG = 0.6  # tagged customers given a 客户身份 tag
P_IDENTITY_CONTRADICTS = 0.05  # ... that is not what their survey says
P_BABY_AGE = 0.6  # those tagged 宝妈 also given their child's age
P_TAG_REMOVED = 0.12  # tags removed later by the staff member
# Tags created during the span, and deleted, at a share of the span; the others exist from
# its first moment. The conflicting copy is of 退休, the rarest tag.
LATE_TAGS = {"双11意向": 0.55}
DELETED_TAGS = {"物流不满": 0.8}
CONFLICTING_TAG = "退休"
STAFF_TAG_ACTIONS = ("add", "remove")

# ---------------------------------------------------------------------------------------------
# Bad rows
# ---------------------------------------------------------------------------------------------

BAD_KINDS = (
    "duplicate_row",  # an exact copy of an existing row
    "duplicate_key",  # same primary key as an existing row, different content
    "missing_required",  # a required column is empty
    "bad_timestamp",  # '2025-13-45 99:00' or 'not a date'
    "bad_number",  # '12,3x'
    "negative_value",  # negative amount / price / duration, non-positive quantity
    "unknown_enum",  # status / event_type / interaction_type outside the allowed set
    "unknown_reference",  # customer / order / sku id that does not exist
    "future_timestamp",  # a timestamp in 2099
    "end_before_start",  # an end before its start: a group dismissed before it was created
)
# The kinds a source with a timestamp, a number, a status and a reference can take: all but
# the one that needs an end date.
_COMMON_KINDS = BAD_KINDS[:-1]
# What the generate command's summary calls each kind, in the operator's language.
BAD_KIND_LABELS = {
    "duplicate_row": N_("exact copy"),
    "duplicate_key": N_("conflicting key"),
    "missing_required": N_("required value missing"),
    "bad_timestamp": N_("unreadable time"),
    "bad_number": N_("unreadable number"),
    "negative_value": N_("negative value"),
    "unknown_enum": N_("unknown status or type"),
    "unknown_reference": N_("unknown reference"),
    "future_timestamp": N_("time in the future"),
    "end_before_start": N_("end before start"),
}


@dataclass(frozen=True)
class _BadSpec:
    key: tuple[str, ...]
    kinds: tuple[str, ...]
    ts: str | None = None
    number: str | None = None
    enum: str | None = None
    bad_enum: tuple[str, ...] = ()

    def column(self, role: str, source: str) -> str:
        """The column named for a role (ts, number or enum): only a source that has it lists the
        kinds that change it."""
        name: str | None = getattr(self, role)
        if name is None:
            raise ValueError(f"{source} has no {role} column for a bad row to change")
        return name


BAD_SPECS: dict[str, _BadSpec] = {
    "customers": _BadSpec(
        ("customer_id",),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_timestamp",
            "future_timestamp",
        ),
        ts="registered_at",
    ),
    "products": _BadSpec(
        ("sku_id",),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_timestamp",
            "bad_number",
            "negative_value",
            "future_timestamp",
        ),
        ts="launched_at",
        number="price",
    ),
    "orders": _BadSpec(
        ("order_id",),
        _COMMON_KINDS,
        ts="order_ts",
        number="total_amount",
        enum="status",
        bad_enum=("shipped", "PAID", "pending_review"),
    ),
    "order_items": _BadSpec(
        ("order_id", "line_no"),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_number",
            "negative_value",
            "unknown_reference",
        ),
        number="quantity",
    ),
    "friend_events": _BadSpec(
        ("event_id",),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_timestamp",
            "unknown_enum",
            "unknown_reference",
            "future_timestamp",
        ),
        ts="event_ts",
        enum="event_type",
        bad_enum=("transfer", "delete", "ADD"),
    ),
    "interactions": _BadSpec(
        ("interaction_id",),
        _COMMON_KINDS,
        ts="interaction_ts",
        number="duration_s",
        enum="interaction_type",
        bad_enum=("video_call", "like", "unknown"),
    ),
    "groups": _BadSpec(
        ("group_id",),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_timestamp",
            "future_timestamp",
            "end_before_start",
        ),
        ts="created_at",
    ),
    "tag_library": _BadSpec(
        ("tag_group", "tag_name"),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_timestamp",
            "future_timestamp",
            "end_before_start",
        ),
        ts="created_at",
    ),
    "staff_tags": _BadSpec(
        ("staff_id", "customer_id", "tag_group", "tag_name", "event_ts"),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_timestamp",
            "unknown_enum",
            "unknown_reference",
            "future_timestamp",
        ),
        ts="event_ts",
        enum="action",
        # WeCom's own words for a tag change, and a misspelling.
        bad_enum=("add_tag", "del_tag", "ADD"),
    ),
    "group_members": _BadSpec(
        ("group_id", "customer_id", "event_ts"),
        (
            "duplicate_row",
            "duplicate_key",
            "missing_required",
            "bad_timestamp",
            "unknown_enum",
            "unknown_reference",
            "future_timestamp",
        ),
        ts="event_ts",
        enum="event_type",
        # WeCom's own change types, and a word for leaving that is not ours.
        bad_enum=("del_member", "add_member", "quit"),
    ),
}

BAD_TIMESTAMPS = ("2025-13-45 99:00", "not a date")
BAD_NUMBER = "12,3x"
# Ids that cannot collide with generated ones (customer numbers stay below this).
UNKNOWN_CUSTOMER_BASE = 99_000_000
UNKNOWN_ORDER_BASE = 9_000_000_000
UNKNOWN_GROUP_BASE = 900_000
MAX_CUSTOMERS = 90_000_000

ID_WIDTH = {"customer": 8, "order": 10, "event": 10, "interaction": 11, "group": 6}

# ---------------------------------------------------------------------------------------------
# Fast string formatting (numpy and Arrow compute, no Python loop per row)
# ---------------------------------------------------------------------------------------------

_D4 = np.array([f"{i:04d}".encode() for i in range(10_000)], dtype="S4")


def _ragged(mat: np.ndarray, lengths: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Arrow string array made of the first lengths[i] bytes of each row of mat."""
    n, width = mat.shape
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    data = mat.reshape(-1) if (lengths == width).all() else mat[np.arange(width) < lengths[:, None]]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap)


def _ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """'C00000001'-style ids: prefix + zero-padded number (widens past width if ever needed)."""
    nums = np.asarray(nums, I64)
    if len(nums) and int(nums.max()) >= 10**width:
        return pa.array([f"{prefix}{x:0{width}d}" for x in nums.tolist()], pa.string())
    groups = math.ceil(width / 4)
    fields = [("p", f"S{len(prefix)}")] + [(f"g{i}", "S4") for i in range(groups)]
    rec = np.empty(len(nums), dtype=fields)
    rec["p"] = prefix.encode()
    rest = nums.copy()
    for i in range(groups - 1, -1, -1):
        rec[f"g{i}"] = _D4[rest % 10_000]
        rest //= 10_000
    cut = groups * 4 - width  # leading zeros to drop so that the id is exactly `width` digits
    raw = rec.view(np.uint8).reshape(len(nums), -1)
    if cut:
        raw = np.ascontiguousarray(np.delete(raw, np.s_[len(prefix) : len(prefix) + cut], axis=1))
    return _ragged(raw, np.full(len(nums), raw.shape[1]))


def _fmt_dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """'2025-03-04' from days since 1970-01-01: Arrow's cast of a date to text (ISO 8601; a
    tenth of the time pc.strftime takes)."""
    dates = pa.array(np.asarray(days, np.int32), pa.int32(), mask=_nulls(valid))
    return pc.cast(dates.view(pa.date32()), pa.string())


def _fmt_ts(local_s: np.ndarray, style: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Format local (Asia/Shanghai) epoch seconds.

    style 0: '2025-03-04 10:15:00'; 1: '2025-03-04T10:15:00+08:00'; 2: the same instant in UTC,
    '2025-03-04T02:15:00+00:00'.
    """
    style = np.asarray(style)
    seconds = np.asarray(local_s, I64) - np.where(style == 2, TZ_S, 0)
    stamps = pa.array(seconds, pa.timestamp("s"), mask=_nulls(valid))
    # Arrow casts a timestamp of seconds to '2025-03-04 10:15:00', as _fmt_dates a date.
    spaced = pc.cast(stamps, pa.string())
    iso = pc.replace_substring(spaced, " ", "T", max_replacements=1)
    offset = pa.array(np.where(style == 2, "+00:00", "+08:00"), pa.string())
    return pc.if_else(
        pa.array(style == 0, pa.bool_()), spaced, pc.binary_join_element_wise(iso, offset, "")
    )


def _fmt_cents(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """'1234.50' from integer cents (non-negative, below 10^10 yuan): a decimal of 2 places,
    which Arrow writes without an exponent."""
    whole = pc.cast(pa.array(np.asarray(cents, I64), mask=_nulls(valid)), pa.decimal128(20, 0))
    return pc.cast(pc.multiply(whole, pa.scalar(Decimal("0.01"))), pa.string())


def _nulls(valid: np.ndarray | None) -> np.ndarray | None:
    """The mask of null rows for pa.array: the rows not valid."""
    return None if valid is None else ~np.asarray(valid, bool)


def _fmt_int(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    arr = pc.cast(pa.array(np.asarray(values, I64)), pa.string())
    if valid is None:
        return arr
    return pc.if_else(pa.array(valid), arr, pa.scalar(None, pa.string()))


def _take(values: Sequence[str | None], idx: np.ndarray) -> pa.Array:
    """values[idx] as an Arrow string array; a negative index gives null."""
    idx = np.asarray(idx, I64)
    dictionary = pa.array([*values, None], pa.string())
    return dictionary.take(pa.array(np.where(idx < 0, len(values), idx)))


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------------


def _positions(counts: np.ndarray) -> np.ndarray:
    """Position of each expanded element within its group, for np.repeat(..., counts)."""
    counts = np.asarray(counts, I64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=I64) - np.repeat(starts, counts)


def _pick(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draw: index of the first cumulative probability above u."""
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def _pick_rows(cum_rows: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draw with per-row probabilities cum_rows[rows] (cumulative, last = 1)."""
    idx = np.zeros(len(rows), I64)
    for k in range(cum_rows.shape[1] - 1):
        idx += u >= cum_rows[rows, k]
    return idx


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    hour = _pick(HOUR_CUM, rng.random(n))
    return hour * 3600 + rng.integers(0, 3600, n)


def _on_day(rng: np.random.Generator, t_s: np.ndarray) -> np.ndarray:
    """Keep the day of t_s but give it a realistic time of day."""
    return (np.asarray(t_s, I64) // DAY) * DAY + _time_of_day(rng, len(t_s))


def _ts_style(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-row exporter style: 0 local without offset, 1 '+08:00', 2 UTC '+00:00'."""
    u = rng.random(n)
    return np.where(u < P_OFFSET_TS / 2, 1, np.where(u < P_OFFSET_TS, 2, 0)).astype(np.int8)


def _days(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


# ---------------------------------------------------------------------------------------------
# Catalogue (products, staff, content)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalog:
    sku_ids: list[str]
    category: np.ndarray  # category index per sku
    price_cents: np.ndarray
    launch_s: np.ndarray
    # SKUs of each category sorted by launch: cat_skus[cat_start[c]:cat_start[c+1]]
    cat_skus: np.ndarray
    cat_launch: np.ndarray
    cat_start: np.ndarray
    content_topic: np.ndarray  # topic index per content id (content ids are CT0001..)
    topic_contents: np.ndarray  # content indexes sorted by topic
    topic_start: np.ndarray
    staff_ids: list[str]


def _build_catalog(rng: np.random.Generator, start_s: int, end_s: int, n_staff: int) -> _Catalog:
    cat, names = [], []
    for ci, c in enumerate(CATEGORIES):
        cat += [ci] * len(c.sku_names)
        names += list(c.sku_names)
    n = len(cat)
    category = np.array(cat, I64)
    lo = np.array([CATEGORIES[c].price_yuan[0] for c in cat], float)
    hi = np.array([CATEGORIES[c].price_yuan[1] for c in cat], float)
    # Prices end in 9 (129.00) or 9.90 (129.90), like real shelf prices.
    tens = np.round((lo + rng.random(n) * (hi - lo)) / 10).astype(I64)
    price = np.maximum(tens, 1) * 1000 - 100 + np.where(rng.random(n) < 0.3, 90, 0)
    span = end_s - start_s
    u = rng.random(n)
    launch = np.where(
        u < 0.14,
        end_s - rng.integers(1, 90, n) * DAY,  # recent launches (新品)
        np.where(u < 0.35, start_s + (rng.random(n) * (span - 90 * DAY)).astype(I64), 0),
    )
    pre_span = start_s - rng.integers(30, 4 * 365, n) * DAY
    launch = np.where(launch == 0, pre_span, launch)
    first_of_cat = np.r_[True, category[1:] != category[:-1]]
    launch = np.where(first_of_cat, pre_span, launch)  # every category is orderable from day one
    launch = _on_day(rng, launch)
    order = np.lexsort((launch, category))
    cat_start = np.searchsorted(category[order], np.arange(N_CAT + 1))
    content_topic = _pick(np.cumsum([0.35, 0.25, 0.15, 0.12, 0.13]), rng.random(N_CONTENT))
    t_order = np.argsort(content_topic, kind="stable")
    topic_start = np.searchsorted(content_topic[t_order], np.arange(len(TOPICS) + 1))
    return _Catalog(
        sku_ids=[f"SKU{i + 1:04d}" for i in range(n)],
        category=category,
        price_cents=price,
        launch_s=launch,
        cat_skus=order,
        cat_launch=launch[order],
        cat_start=cat_start,
        content_topic=content_topic,
        topic_contents=t_order,
        topic_start=topic_start,
        staff_ids=[f"S{i + 1:03d}" for i in range(n_staff)],
    )


def _products_table(catalog: _Catalog, rng: np.random.Generator) -> pa.Table:
    n = len(catalog.sku_ids)
    cycles = [CATEGORIES[c].cycle_days for c in catalog.category.tolist()]
    names = [n for c in CATEGORIES for n in c.sku_names]
    return pa.table(
        {
            "sku_id": pa.array(catalog.sku_ids, pa.string()),
            "sku_name": pa.array(names, pa.string()),
            "category": _take([c.name for c in CATEGORIES], catalog.category),
            "price": _fmt_cents(catalog.price_cents),
            "launched_at": _fmt_ts(catalog.launch_s, _ts_style(rng, n)),
            "consumption_cycle_days": pa.array(
                [None if c is None else str(c) for c in cycles], pa.string()
            ),
        }
    )


def _sku_at(
    catalog: _Catalog, rng: np.random.Generator, cat: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    """A SKU of category cat already launched at ts (uniform among those launched)."""
    out = np.empty(len(cat), I64)
    u = rng.random(len(cat))
    for c in range(N_CAT):
        m = cat == c
        if not m.any():
            continue
        lo, hi = catalog.cat_start[c], catalog.cat_start[c + 1]
        avail = np.searchsorted(catalog.cat_launch[lo:hi], ts[m], side="right")
        avail = np.maximum(avail, 1)
        out[m] = catalog.cat_skus[lo + (u[m] * avail).astype(I64)]
    return out


# ---------------------------------------------------------------------------------------------
# One chunk of customers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Params:
    start_s: int
    end_s: int
    orders_per_customer: float
    lines_per_order: float
    interactions_per_customer: float
    friend_events_per_customer: float
    n_staff: int


@dataclass
class _Counters:
    """Next sequence number per id space; consecutive over chunks."""

    order: int = 1
    event: int = 1
    interaction: int = 1
    bad_customer: int = 0
    bad_sku: int = 0
    bad_group: int = 0


@dataclass(frozen=True)
class _History:
    """What a chunk's final rows came from, for dating their versions (daily deliveries)."""

    reg_s: np.ndarray
    city: np.ndarray
    has_city: np.ndarray
    orders: dict[str, np.ndarray]  # _orders' arrays, with "id" and "style" once formatted
    item_order: np.ndarray  # the order (index into orders) of each order line
    friend_ts: np.ndarray
    interaction_ts: np.ndarray
    # For group members: engagement, and the window of the first friendship (-1 if none).
    eng: np.ndarray
    friend_start: np.ndarray
    friend_end: np.ndarray
    # For staff tags: the staff member of the first friendship.
    primary_staff: np.ndarray


def _customers_chunk(
    rng: np.random.Generator,
    first_num: int,
    n: int,
    p: _Params,
    catalog: _Catalog,
    counters: _Counters,
) -> tuple[dict[str, pa.Table], _History]:
    span = p.end_s - p.start_s
    cust_num = first_num + np.arange(n, dtype=I64)
    cust_ids = _ids("C", cust_num, ID_WIDTH["customer"])

    # --- profile -----------------------------------------------------------------------------
    seg = _pick(np.cumsum(SEG_P), rng.random(n))
    eng = SEG_ENG[seg] * rng.lognormal(-(ENG_SIGMA**2) / 2, ENG_SIGMA, n)
    # Registrations grow linearly over the span (density ∝ 0.5 + x).
    x = (np.sqrt(1 + 8 * rng.random(n)) - 1) / 2
    # Heavy buyers tend to be long-standing customers.
    x = np.where(seg >= SEG_HEAVY, rng.random(n) ** 1.6, x)
    reg_s = _on_day(rng, p.start_s + (x * span).astype(I64))
    reg_s = np.clip(reg_s, p.start_s, p.end_s)
    gender = _pick(np.cumsum(GENDER_P), rng.random(n))
    identity = _pick_rows(np.cumsum(IDENTITY_P, axis=1), gender, rng.random(n))
    skin = _pick(np.cumsum(SKIN_P), rng.random(n))
    age_lo = np.array([24, 16, 22, 18])[identity]
    age_hi = np.array([41, 25, 46, 56])[identity]
    age = rng.integers(age_lo, age_hi)
    end_day = p.end_s // DAY
    birthday = end_day - (age * 365.25).astype(I64) - rng.integers(0, 365, n)
    has_birthday = rng.random(n) < np.where(gender == 2, 0.45, 0.78)
    city_w = np.array([c[2] for c in CITIES])
    city = _pick(np.cumsum(city_w / city_w.sum()), rng.random(n))
    u_geo = rng.random(n)
    has_province = u_geo >= 0.03
    has_city = u_geo >= 0.05

    # Category affinity: base popularity x profile x personal taste.
    aff = np.tile(CAT_BASE, (n, 1)) * rng.gamma(1.0, 1.0, (n, N_CAT))
    mom = identity == 0
    aff[np.ix_(mom, CAT_BABY)] *= 12
    aff[np.ix_(identity == 1, CAT_BABY)] *= 0.05
    aff[np.ix_(identity == 1, CAT_SKIN)] *= 1.5
    aff[np.ix_(gender == 1, CAT_SKIN)] *= 0.3
    aff[np.ix_(gender == 1, CAT_CAR)] *= 4
    aff[np.ix_(skin < 4, CAT_SKIN)] *= 1.4
    aff_cum = np.cumsum(aff / aff.sum(axis=1, keepdims=True), axis=1)
    aff_cum[:, -1] = 1.0

    # --- friendships -------------------------------------------------------------------------
    fe, friend_start, friend_end, primary_staff = _friend_events(rng, n, seg, eng, reg_s, p)

    # --- orders ------------------------------------------------------------------------------
    orders, items, spend = _orders(rng, n, seg, reg_s, city, has_province, aff, aff_cum, p, catalog)

    # --- interactions ------------------------------------------------------------------------
    inter = _interactions(rng, n, eng, aff, friend_start, friend_end, primary_staff, p, catalog)

    level = np.searchsorted(np.array(MEMBER_SPEND_CENTS), spend, side="right")
    customers = pa.table(
        {
            "customer_id": cust_ids,
            "gender": _take(GENDERS, gender),
            "birthday": _fmt_dates(birthday, has_birthday),
            "province": _take([c[0] for c in CITIES], np.where(has_province, city, -1)),
            "city": _take([c[1] for c in CITIES], np.where(has_city, city, -1)),
            "member_level": _take(MEMBER_LEVELS, level),
            "registered_at": _fmt_ts(reg_s, _ts_style(rng, n)),
            "identity": _take(IDENTITIES, identity),
            "skin_type": _take(SKIN_TYPES, skin),
        }
    )
    tables = {
        "customers": customers,
        "orders": _orders_table(orders, cust_ids, counters, rng),
        "order_items": _items_table(items, orders, counters, catalog),
        "friend_events": _friend_table(fe, cust_ids, counters, catalog, rng),
        "interactions": _interactions_table(inter, cust_ids, counters, catalog, rng),
    }
    history = _History(
        reg_s=reg_s,
        city=city,
        has_city=has_city,
        orders=orders,
        item_order=items["order"],
        friend_ts=fe["ts"],
        interaction_ts=inter["ts"],
        eng=eng,
        friend_start=friend_start,
        friend_end=friend_end,
        primary_staff=primary_staff,
    )
    return tables, history


def _friend_events(
    rng: np.random.Generator,
    n: int,
    seg: np.ndarray,
    eng: np.ndarray,
    reg_s: np.ndarray,
    p: _Params,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Friend events plus, per customer, the window of the first friendship (-1 if none)."""
    is_friend = rng.random(n) < SEG_FRIEND[seg]
    # Extra staff friendships concentrate on engaged customers (eng^1.75): most have exactly
    # one, resellers are added by dozens of shop guides.
    p_friend = float(SEG_P @ SEG_FRIEND)
    power = FRIEND_EXTRA_POWER
    eng_pow = float(SEG_P * SEG_FRIEND @ SEG_ENG**power) / p_friend
    eng_pow *= math.exp(ENG_SIGMA**2 * (power**2 - power) / 2)  # E[noise^power], lognormal
    extra_mean = max(p.friend_events_per_customer / (p_friend * FRIENDSHIP_EVENTS) - 1, 0.0)
    extra = rng.poisson(extra_mean / eng_pow * eng**power)
    k = np.where(is_friend, 1 + np.minimum(extra, min(p.n_staff - 1, MAX_EXTRA_STAFF)), 0)
    f_cust = np.repeat(np.arange(n, dtype=I64), k)
    f_pos = _positions(k)
    primary = rng.integers(0, p.n_staff, n)
    staff = (primary[f_cust] + f_pos) % p.n_staff  # distinct staff per customer
    m = len(f_cust)

    # First add around registration: mostly the same hour, else days later, sometimes before.
    u = rng.random(n)
    offset = np.where(
        u < 0.55,
        rng.integers(-1800, 3600, n),
        np.where(u < 0.85, rng.exponential(10 * DAY, n), -rng.exponential(5 * DAY, n)),
    ).astype(I64)
    first_add = np.clip(reg_s + offset, p.start_s, p.end_s)
    later = first_add[f_cust] + (rng.random(m) * (p.end_s - first_add[f_cust])).astype(I64)
    add_s = np.where(f_pos == 0, first_add[f_cust], _on_day(rng, later))
    add_s = np.clip(add_s, first_add[f_cust], p.end_s)
    acq_cum = np.cumsum([c[2] for c in ACQ_CHANNELS])
    add_channel = _pick(acq_cum / acq_cum[-1], rng.random(m))

    u = rng.random(m)
    del_type = np.where(u < P_DEL_CUSTOMER, 1, np.where(u < P_DEL_CUSTOMER + P_DEL_STAFF, 2, 0))
    del_s = add_s + 3600 + rng.exponential(90 * DAY, m).astype(I64)
    deleted = (del_type > 0) & (del_s <= p.end_s)
    readd_s = _on_day(rng, del_s + DAY + rng.exponential(20 * DAY, m).astype(I64))
    readd_s = np.maximum(readd_s, del_s + 60)
    readded = deleted & (rng.random(m) < P_READD) & (readd_s <= p.end_s)
    readd_channel = _pick(acq_cum / acq_cum[-1], rng.random(m))

    ev = {
        "cust": np.concatenate([f_cust, f_cust[deleted], f_cust[readded]]),
        "staff": np.concatenate([staff, staff[deleted], staff[readded]]),
        "type": np.concatenate([np.zeros(m, I64), del_type[deleted], np.zeros(readded.sum(), I64)]),
        "ts": np.concatenate([add_s, del_s[deleted], readd_s[readded]]),
        "channel": np.concatenate(
            [add_channel, np.full(deleted.sum(), -1), readd_channel[readded]]
        ),
    }
    order = np.lexsort((ev["ts"], ev["cust"]))
    ev = {key: v[order] for key, v in ev.items()}

    # Interactions stop when the first friendship ends (a re-add does not resume them).
    friend_start = np.full(n, -1, I64)
    friend_end = np.full(n, -1, I64)
    first = f_pos == 0
    friend_start[f_cust[first]] = add_s[first]
    friend_end[f_cust[first]] = np.where(deleted[first], del_s[first], p.end_s)
    return ev, friend_start, friend_end, primary


def _orders(
    rng: np.random.Generator,
    n: int,
    seg: np.ndarray,
    reg_s: np.ndarray,
    city: np.ndarray,
    has_province: np.ndarray,
    aff: np.ndarray,
    aff_cum: np.ndarray,
    p: _Params,
    catalog: _Catalog,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Orders as buying habits (streams) repeating at the category's cycle, with their lines."""
    scale = p.orders_per_customer / 10.0
    u = rng.random(n)
    first_order = reg_s + np.where(
        u < 0.45, rng.exponential(3 * 3600, n), rng.exponential(25 * DAY, n)
    ).astype(I64)
    buyer = (seg > SEG_PROSPECT) & (first_order <= p.end_s)
    n_streams = SEG_STREAMS_BASE[seg] + rng.poisson(SEG_STREAMS_EXTRA[seg] * scale)
    # Households buy each category once per cycle (distinct categories); resellers run
    # parallel habits on their top 1-3 categories.
    n_streams = np.where(seg == SEG_RESELLER, n_streams, np.minimum(n_streams, N_CAT))
    n_streams = np.where(buyer, n_streams, 0)
    s_cust = np.repeat(np.arange(n, dtype=I64), n_streams)
    s_pos = _positions(n_streams)
    n_s = len(s_cust)
    # Categories by affinity without replacement (Gumbel top-k), one row per customer.
    ranked = np.argsort(-(np.log(aff) + rng.gumbel(size=aff.shape)), axis=1)
    n_top = 1 + rng.integers(0, 3, n)
    rank = np.where(seg[s_cust] == SEG_RESELLER, s_pos % n_top[s_cust], s_pos)
    s_cat = ranked[s_cust, rank]
    cycle = np.array([c.cycle_days or 0 for c in CATEGORIES], I64)[s_cat]
    durable = cycle == 0
    s_start = first_order[s_cust] + np.where(
        s_pos == 0, 0, rng.exponential(60 * DAY, n_s).astype(I64)
    )
    s_qty = np.where(durable, 1, 1 + _pick(np.array([0.85, 0.97, 1.0]), rng.random(n_s)))
    p_stop = np.where(durable, np.maximum(SEG_P_STOP[seg[s_cust]], 0.7), SEG_P_STOP[seg[s_cust]])
    k = np.minimum(rng.geometric(p_stop), 400)

    o_stream = np.repeat(np.arange(n_s, dtype=I64), k)
    o_pos = _positions(k)
    m = len(o_stream)
    # A unit of a periodic product lasts its cycle; a stream buys s_qty units at a time.
    gap_days = np.where(
        durable[o_stream],
        30 + rng.exponential(150, m),
        (cycle * s_qty)[o_stream] * rng.lognormal(0, 0.2, m),
    )
    gap = np.where(o_pos == 0, 0, (gap_days * DAY).astype(I64))
    cs = np.cumsum(gap)
    t = s_start[o_stream] + cs - np.repeat(cs[np.cumsum(k) - k], k)
    o_cust = s_cust[o_stream]
    first = (o_pos == 0) & (s_pos[o_stream] == 0)
    ts = np.where(first, t, _on_day(rng, t))
    ts = np.maximum(ts, reg_s[o_cust] + 60)
    keep = ts <= p.end_s
    o_cust, o_stream, ts = o_cust[keep], o_stream[keep], ts[keep]
    order = np.lexsort((ts, o_cust))
    o_cust, o_stream, ts = o_cust[order], o_stream[order], ts[order]
    m = len(o_cust)

    # Sales channel: a preferred one per customer, sometimes another.
    pref = _pick(np.cumsum(SALES_CHANNEL_P), rng.random(n))
    channel = np.where(
        rng.random(m) < 0.8, pref[o_cust], _pick(np.cumsum(SALES_CHANNEL_P), rng.random(m))
    )

    # --- lines ---
    n_lines = 1 + np.minimum(rng.poisson(max(p.lines_per_order - 1, 0.0), m), 11)
    l_order = np.repeat(np.arange(m, dtype=I64), n_lines)
    l_pos = _positions(n_lines)
    nl = len(l_order)
    l_cat = np.where(
        l_pos == 0,
        s_cat[o_stream][l_order],
        _pick_rows(aff_cum, o_cust[l_order], rng.random(nl)),
    )
    l_sku = _sku_at(catalog, rng, l_cat, ts[l_order])
    l_qty = np.where(
        l_pos == 0,
        s_qty[o_stream][l_order],
        1 + _pick(np.array([0.8, 0.95, 1.0]), rng.random(nl)),
    )
    l_price = catalog.price_cents[l_sku]
    l_amount = l_qty * l_price
    gross = np.add.reduceat(l_amount, np.cumsum(n_lines) - n_lines) if m else np.zeros(0, I64)

    # --- discount: coupons (fixed amount) or percentage promotions on ~40% of orders ---
    u = rng.random(m)
    coupon = np.array([5, 10, 20, 30, 50, 100], I64)[rng.integers(0, 6, m)] * 100
    pct = np.array([5, 10, 15, 20], I64)[rng.integers(0, 4, m)]
    disc = np.where(u < P_DISCOUNT * 0.6, np.minimum(coupon, gross * 3 // 10), gross * pct // 100)
    disc = np.where(u < P_DISCOUNT, disc, 0)
    disc = np.where(disc >= 100, disc, 0)  # no sub-yuan discounts
    total = gross - disc

    # --- status timeline, cut at the export time ---
    offline = channel == 3
    u = rng.random(m)
    cancelled = u < P_CANCEL
    refunded = (u >= P_CANCEL) & (u < P_CANCEL + P_REFUND)
    # Most pay within minutes; pay-for-me links and transfers take hours (so the export has a
    # few orders still 'created'); unpaid orders are cancelled within a day.
    online_delay = np.where(
        rng.random(m) < 0.04, rng.exponential(6 * 3600, m), 20 + rng.exponential(300, m)
    )
    paid_s = (ts + np.where(offline, rng.integers(5, 120, m), online_delay)).astype(I64)
    cancel_s = ts + 60 + np.minimum(rng.exponential(4 * 3600, m), DAY).astype(I64)
    confirm_s = paid_s + np.where(
        offline, rng.integers(60, 600, m), rng.integers(3 * DAY, 12 * DAY, m)
    )
    refund_early = rng.random(m) < 0.5
    refund_s = np.where(
        refund_early,
        paid_s + rng.integers(DAY // 2, 8 * DAY, m),
        confirm_s + rng.integers(DAY, 10 * DAY, m),
    )
    end = p.end_s
    paid_ok = ~cancelled & (paid_s <= end)
    confirm_ok = ~cancelled & ~(refunded & refund_early) & (confirm_s <= end)
    refund_ok = refunded & (refund_s <= end)
    cancel_ok = cancelled & (cancel_s <= end)
    status = np.zeros(m, I64)
    status[paid_ok] = 1
    status[confirm_ok] = 2
    status[refund_ok] = 4
    status[cancel_ok] = 3

    ship = np.where(
        has_province[o_cust] & (rng.random(m) < 0.92), city[o_cust], rng.integers(0, len(CITIES), m)
    )
    spend = np.bincount(o_cust, weights=np.where(np.isin(status, (1, 2)), total, 0), minlength=n)
    orders = {
        "cust": o_cust,
        "ts": ts,
        "paid_s": paid_s,
        "paid_ok": paid_ok,
        "confirm_s": confirm_s,
        "confirm_ok": confirm_ok,
        "cancel_s": cancel_s,
        "cancel_ok": cancel_ok,
        "refund_s": refund_s,
        "refund_ok": refund_ok,
        "status": status,
        "channel": channel,
        "total": total,
        "disc": disc,
        "ship": ship,
    }
    items = {
        "order": l_order,
        "line_no": l_pos + 1,
        "sku": l_sku,
        "qty": l_qty,
        "price": l_price,
        "amount": l_amount,
    }
    return orders, items, spend.astype(I64)


def _interactions(
    rng: np.random.Generator,
    n: int,
    eng: np.ndarray,
    aff: np.ndarray,
    friend_start: np.ndarray,
    friend_end: np.ndarray,
    primary_staff: np.ndarray,
    p: _Params,
    catalog: _Catalog,
) -> dict[str, np.ndarray]:
    """Bursts of activity (a few days each) inside the customer's friendship window."""
    span = p.end_s - p.start_s
    friend = friend_start >= 0
    window = np.where(friend, friend_end - friend_start, 0).astype(float)
    w = eng * window / span
    mean_w = float(w.mean()) if n else 0.0
    bursts_mean = p.interactions_per_customer / EVENTS_PER_BURST
    lam = np.where(mean_w > 0, bursts_mean * w / max(mean_w, 1e-12), 0.0)
    n_bursts = rng.poisson(lam)
    b_cust = np.repeat(np.arange(n, dtype=I64), n_bursts)
    nb = len(b_cust)
    b_start = friend_start[b_cust] + (rng.random(nb) * window[b_cust]).astype(I64)
    b_len = 1 + _pick(np.array([0.35, 0.65, 0.85, 0.95, 1.0]), rng.random(nb))
    b_events = 1 + rng.poisson(EVENTS_PER_BURST - 1, nb)

    e_burst = np.repeat(np.arange(nb, dtype=I64), b_events)
    ne = len(e_burst)
    e_cust = b_cust[e_burst]
    day = b_start[e_burst] // DAY + (rng.random(ne) * b_len[e_burst]).astype(I64)
    ts = day * DAY + _time_of_day(rng, ne)
    start = friend_start[e_cust]
    ts = np.where(ts < start, start + rng.integers(30, 3600, ne), ts)
    keep = ts <= friend_end[e_cust]
    e_cust, ts = e_cust[keep], ts[keep]
    order = np.lexsort((ts, e_cust))
    e_cust, ts = e_cust[order], ts[order]
    ne = len(e_cust)

    itype = _pick(np.cumsum(INTERACTION_P), rng.random(ne))
    # Topic interest follows category affinity; 新品 / 促销 / 售后 interest everyone a bit.
    topic_w = np.zeros((n, len(TOPICS)))
    for ci, c in enumerate(CATEGORIES):
        topic_w[:, TOPICS.index(c.topic)] += aff[:, ci]
    topic_w /= topic_w.sum(axis=1, keepdims=True)
    topic_w[:, 3:] = [0.25, 0.3, 0.1]
    topic_cum = np.cumsum(topic_w / topic_w.sum(axis=1, keepdims=True), axis=1)
    topic_cum[:, -1] = 1.0
    topic = _pick_rows(topic_cum, e_cust, rng.random(ne))
    is_content = itype == IT_CONTENT
    # Content is never about 售后 (after-sales): those readers open a 促销 article instead.
    c_topic = np.where(topic == 5, 4, topic)
    lo = catalog.topic_start[c_topic]
    cnt = catalog.topic_start[c_topic + 1] - lo
    content = catalog.topic_contents[lo + (rng.random(ne) * cnt).astype(I64)]
    is_chat = (itype == IT_CHAT_IN) | (itype == IT_CHAT_OUT)
    has_topic = is_content | (is_chat & (rng.random(ne) < 0.8))
    duration = np.clip(rng.lognormal(np.log(45), 1.0, ne), 1, 1800).astype(I64)
    return {
        "cust": e_cust,
        "ts": ts,
        "type": itype,
        "staff": primary_staff[e_cust],
        "has_staff": INTERACTION_HAS_STAFF[itype],
        "topic": np.where(has_topic, np.where(is_content, c_topic, topic), -1),
        "content": np.where(is_content, content, -1),
        "duration": duration,
        "is_content": is_content,
    }


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _orders_table(
    o: dict[str, np.ndarray], cust_ids: pa.Array, counters: _Counters, rng: np.random.Generator
) -> pa.Table:
    m = len(o["cust"])
    o["id"] = counters.order + np.arange(m, dtype=I64)
    counters.order += m
    style = _ts_style(rng, m)
    o["style"] = style
    # Shop exports write 0.00 when there is no discount; douyin / offline exports leave it empty.
    disc_ok = (o["disc"] > 0) | (o["channel"] < 2)
    return pa.table(
        {
            "order_id": _ids("O", o["id"], ID_WIDTH["order"]),
            "customer_id": cust_ids.take(pa.array(o["cust"])),
            "order_ts": _fmt_ts(o["ts"], style),
            "paid_ts": _fmt_ts(o["paid_s"], style, o["paid_ok"]),
            "confirmed_ts": _fmt_ts(o["confirm_s"], style, o["confirm_ok"]),
            "cancelled_ts": _fmt_ts(o["cancel_s"], style, o["cancel_ok"]),
            "refunded_ts": _fmt_ts(o["refund_s"], style, o["refund_ok"]),
            "status": _take(ORDER_STATUSES, o["status"]),
            "channel": _take(SALES_CHANNELS, o["channel"]),
            "total_amount": _fmt_cents(o["total"]),
            "discount_amount": _fmt_cents(o["disc"], disc_ok),
            "ship_province": _take([c[0] for c in CITIES], o["ship"]),
            # Every customer is known by one id here: no second id to link.
            "buyer_phone": pa.nulls(len(o["id"]), pa.string()),
        }
    )


def _items_table(
    it: dict[str, np.ndarray], o: dict[str, np.ndarray], counters: _Counters, catalog: _Catalog
) -> pa.Table:
    return pa.table(
        {
            "order_id": _ids("O", o["id"][it["order"]], ID_WIDTH["order"]),
            "line_no": _fmt_int(it["line_no"]),
            "sku_id": _take(catalog.sku_ids, it["sku"]),
            "quantity": _fmt_int(it["qty"]),
            "unit_price": _fmt_cents(it["price"]),
            "line_amount": _fmt_cents(it["amount"]),
        }
    )


def _friend_table(
    ev: dict[str, np.ndarray],
    cust_ids: pa.Array,
    counters: _Counters,
    catalog: _Catalog,
    rng: np.random.Generator,
) -> pa.Table:
    m = len(ev["cust"])
    ids = counters.event + np.arange(m, dtype=I64)
    counters.event += m
    return pa.table(
        {
            "event_id": _ids("FE", ids, ID_WIDTH["event"]),
            "customer_id": cust_ids.take(pa.array(ev["cust"])),
            "staff_id": _take(catalog.staff_ids, ev["staff"]),
            "event_type": _take(FRIEND_EVENT_TYPES, ev["type"]),
            "event_ts": _fmt_ts(ev["ts"], _ts_style(rng, m)),
            "channel_code": _take([c[0] for c in ACQ_CHANNELS], ev["channel"]),
            "channel_name": _take([c[1] for c in ACQ_CHANNELS], ev["channel"]),
            "unionid": pa.nulls(m, pa.string()),
        }
    )


def _interactions_table(
    e: dict[str, np.ndarray],
    cust_ids: pa.Array,
    counters: _Counters,
    catalog: _Catalog,
    rng: np.random.Generator,
) -> pa.Table:
    m = len(e["cust"])
    ids = counters.interaction + np.arange(m, dtype=I64)
    counters.interaction += m
    content_ids = [f"CT{i + 1:04d}" for i in range(N_CONTENT)]
    return pa.table(
        {
            "interaction_id": _ids("I", ids, ID_WIDTH["interaction"]),
            "customer_id": cust_ids.take(pa.array(e["cust"])),
            "staff_id": _take(catalog.staff_ids, np.where(e["has_staff"], e["staff"], -1)),
            "interaction_ts": _fmt_ts(e["ts"], _ts_style(rng, m)),
            "interaction_type": _take(INTERACTION_TYPES, e["type"]),
            "content_id": _take(content_ids, e["content"]),
            "topic": _take(TOPICS, e["topic"]),
            "duration_s": _fmt_int(e["duration"], e["is_content"]),
        }
    )


# ---------------------------------------------------------------------------------------------
# Customer groups
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Groups:
    """The groups of the whole run, drawn before any customer: members come chunk by chunk."""

    created_s: np.ndarray
    dismissed: np.ndarray  # bool
    end_s: np.ndarray  # the dismissal, else the end of the span: nothing happens after it
    members: np.ndarray  # members each group draws from each chunk, (groups, chunks)


def _group_count(customers: int) -> int:
    lo, hi = GROUPS_RANGE
    return min(hi, max(lo, round(customers / CUSTOMERS_PER_GROUP)))


def _groups(
    rng: np.random.Generator, customers: int, p: _Params, staff_ids: list[str]
) -> tuple[_Groups, pa.Table, np.ndarray]:
    """The groups (owned by the staff, created over the span, a few dismissed later) and, per
    group, the members it draws from each chunk of customers. Returns the plan, the whole
    file's rows and each row's timestamp style (for its versions)."""
    n = _group_count(customers)
    span = p.end_s - p.start_s
    # Created over the first 90% of the span, numbered in creation order.
    created = np.sort(_on_day(rng, p.start_s + (rng.random(n) * 0.9 * span).astype(I64)))
    theme_w = np.array([w for _, w in GROUP_THEMES])
    theme = _pick(np.cumsum(theme_w / theme_w.sum()), rng.random(n))
    number = np.zeros(n, I64)
    for t in range(len(GROUP_THEMES)):
        number[theme == t] = np.arange(1, int((theme == t).sum()) + 1)
    names = [
        GROUP_THEMES[t][0] + ("" if k == 1 else f" {k}")
        for t, k in zip(theme.tolist(), number.tolist(), strict=True)
    ]
    owner = rng.integers(0, p.n_staff, n)
    # A few groups, at least a month old, are dismissed a month or more after creation.
    old = np.flatnonzero(created < p.end_s - 60 * DAY)
    k = min(len(old), max(1, round(P_GROUP_DISMISSED * n)))
    dismissed = np.zeros(n, bool)
    dismissed[rng.choice(old, k, replace=False)] = True
    lived = 30 * DAY + (rng.random(n) * (p.end_s - created - 31 * DAY)).astype(I64)
    dismissed_s = np.minimum(_on_day(rng, created + lived), p.end_s)
    end_s = np.where(dismissed, dismissed_s, p.end_s)
    lo, hi = GROUP_SIZE_RANGE
    drawn = rng.lognormal(math.log(GROUP_SIZE_MEDIAN), GROUP_SIZE_SIGMA, n)
    size: np.ndarray = np.clip(drawn, lo, hi).astype(I64)
    chunk_sizes = np.diff(np.r_[np.arange(0, customers, CHUNK_SIZE), customers])
    members = rng.multinomial(size, chunk_sizes / customers)
    style = _ts_style(rng, n)
    table = pa.table(
        {
            "group_id": _ids("G", np.arange(1, n + 1), ID_WIDTH["group"]),
            "name": pa.array(names, pa.string()),
            "owner_staff_id": _take(staff_ids, owner),
            "created_at": _fmt_ts(created, style),
            "dismissed_at": _fmt_ts(dismissed_s, style, dismissed),
        }
    )
    plan = _Groups(created_s=created, dismissed=dismissed, end_s=end_s, members=members)
    return plan, table, style


def _group_versions(
    groups: pa.Table, plan: _Groups, style: np.ndarray
) -> tuple[pa.Table, pa.Table]:
    """Groups delivered on creation, and a dismissed one again on its dismissal (the final
    version, the whole file's row)."""
    last_s = np.where(plan.dismissed, plan.end_s, plan.created_s)
    final = _with_day(groups.append_column("updated_at", _fmt_ts(last_s, style)), last_s // DAY)
    early = np.flatnonzero(plan.dismissed)
    earlier = groups.take(pa.array(early))
    column = earlier.schema.get_field_index("dismissed_at")
    earlier = earlier.set_column(column, "dismissed_at", pa.nulls(len(early), pa.string()))
    earlier = earlier.append_column("updated_at", _fmt_ts(plan.created_s[early], style[early]))
    return final, _with_day(earlier, plan.created_s[early] // DAY)


def _group_members(
    rng: np.random.Generator, plan: _Groups, chunk: int, first_num: int, h: _History
) -> tuple[pa.Table, np.ndarray]:
    """A chunk's join and leave events: each group draws its members among the customers who
    are friends (and registered) while it exists, engaged ones more often; most join soon
    after the group or the friendship starts, some leave later. Also the events' times."""
    friends = np.flatnonzero(h.friend_start >= 0)
    since = np.maximum(h.friend_start, h.reg_s)
    cum_eng = np.cumsum(h.eng[friends])

    def eligible(cust: np.ndarray, g: int) -> np.ndarray:
        """Friends (and registered) for an hour or more while group g exists."""
        lo = np.maximum(since[cust], plan.created_s[g])
        return np.minimum(h.friend_end[cust], plan.end_s[g]) - lo > 3600

    parts: list[tuple[np.ndarray, ...]] = []
    for g in np.flatnonzero(plan.members[:, chunk]).tolist():
        if not len(friends):
            break
        want = int(plan.members[g, chunk])
        # Weighted by engagement, without replacement: successive draws, repeats and the
        # customers not eligible dropped, from a few times as many candidates as needed.
        draws = friends[np.searchsorted(cum_eng, rng.random(4 * want + 16) * cum_eng[-1], "right")]
        draws = draws[eligible(draws, g)]
        _, first = np.unique(draws, return_index=True)
        cust = draws[np.sort(first)][:want]
        if len(cust) < want:  # few eligible: draw among all of them (the same, as Gumbel top-k)
            pool = friends[eligible(friends, g)]
            score = np.log(h.eng[pool]) + rng.gumbel(size=len(pool))
            cust = pool[np.argsort(-score, kind="stable")[:want]]
        k = len(cust)
        if k == 0:
            continue
        cust = np.sort(cust)
        lo = np.maximum(since[cust], plan.created_s[g])
        hi = np.minimum(h.friend_end[cust], plan.end_s[g])
        at = lo + ((hi - lo) * rng.random(k) ** 2).astype(I64)
        on_day = _on_day(rng, at)
        join_s = np.where((on_day >= lo) & (on_day < hi), on_day, at)
        scene = _pick(np.cumsum(JOIN_SCENE_P), rng.random(k))
        leave_s = join_s + 3600 + rng.exponential(LEAVE_AFTER_DAYS * DAY, k).astype(I64)
        leaves = (rng.random(k) < P_LEAVE_GROUP) & (leave_s < plan.end_s[g])
        parts.append(
            (
                np.full(k + int(leaves.sum()), g, I64),
                np.r_[cust, cust[leaves]],
                np.r_[np.zeros(k, I64), np.ones(int(leaves.sum()), I64)],
                np.r_[scene, np.full(int(leaves.sum()), -1, I64)],
                np.r_[join_s, leave_s[leaves]],
            )
        )
    columns = [np.concatenate(c) for c in zip(*parts, strict=True)] if parts else []
    group, cust, kind, scene, ts = columns or [np.zeros(0, I64)] * 5
    order = np.lexsort((cust, ts, group))  # by group, then time
    group, cust, kind, scene, ts = (a[order] for a in (group, cust, kind, scene, ts))
    table = pa.table(
        {
            "group_id": _ids("G", group + 1, ID_WIDTH["group"]),
            "customer_id": _ids("C", first_num + cust, ID_WIDTH["customer"]),
            "event_type": _take(GROUP_EVENT_TYPES, kind),
            "join_scene": _take(JOIN_SCENES, scene),
            "event_ts": _fmt_ts(ts, _ts_style(rng, len(ts))),
        }
    )
    return table, ts


# ---------------------------------------------------------------------------------------------
# Staff-entered tags and the corp's tag library
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TagLibrary:
    """The library's tags in one flat list: group, name, weight in the group, and when each is
    created and deleted (-1: never); the sync's group last."""

    group: tuple[str, ...]
    name: tuple[str, ...]
    weight: np.ndarray
    created_s: np.ndarray
    deleted_s: np.ndarray

    def codes(self, group: str) -> np.ndarray:
        return np.array([i for i, g in enumerate(self.group) if g == group], I64)

    def code(self, name: str) -> int:
        return self.name.index(name)


def _tag_library(p: _Params) -> _TagLibrary:
    """Every tag exists from the span's first moment, but LATE_TAGS; DELETED_TAGS end."""
    tags = [(g, name, w) for g, named in STAFF_TAG_GROUPS for name, w in named]
    tags += [(SYNC_TAG_GROUP, name, 1.0 / len(SYNCED_TAGS)) for name in SYNCED_TAGS]
    span = p.end_s - p.start_s

    def at(share: float) -> int:  # 10:00 on the day at that share of the span
        return int(p.start_s + int(share * span) // DAY * DAY + 10 * 3600)

    return _TagLibrary(
        group=tuple(t[0] for t in tags),
        name=tuple(t[1] for t in tags),
        weight=np.array([t[2] for t in tags]),
        created_s=np.array([at(LATE_TAGS[t[1]]) if t[1] in LATE_TAGS else p.start_s for t in tags]),
        deleted_s=np.array([at(DELETED_TAGS[t[1]]) if t[1] in DELETED_TAGS else -1 for t in tags]),
    )


def _tag_library_table(lib: _TagLibrary, rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
    """The library as exported at the end: a row per tag, deleted ones with deleted_at; also
    each row's timestamp style (for its versions)."""
    style = _ts_style(rng, len(lib.name))
    table = pa.table(
        {
            "tag_group": pa.array(lib.group, pa.string()),
            "tag_name": pa.array(lib.name, pa.string()),
            "created_at": _fmt_ts(lib.created_s, style),
            "deleted_at": _fmt_ts(lib.deleted_s, style, lib.deleted_s >= 0),
        }
    )
    return table, style


def _tag_library_versions(
    table: pa.Table, lib: _TagLibrary, style: np.ndarray
) -> tuple[pa.Table, pa.Table]:
    """Tags delivered on creation, and a deleted one again on its deletion (the final version,
    the whole file's row)."""
    deleted = lib.deleted_s >= 0
    last_s = np.where(deleted, lib.deleted_s, lib.created_s)
    final = _with_day(table.append_column("updated_at", _fmt_ts(last_s, style)), last_s // DAY)
    early = np.flatnonzero(deleted)
    earlier = table.take(pa.array(early))
    column = earlier.schema.get_field_index("deleted_at")
    earlier = earlier.set_column(column, "deleted_at", pa.nulls(len(early), pa.string()))
    earlier = earlier.append_column("updated_at", _fmt_ts(lib.created_s[early], style[early]))
    return final, _with_day(earlier, lib.created_s[early] // DAY)


def _staff_tags(
    rng: np.random.Generator,
    lib: _TagLibrary,
    identity: pa.Array,
    first_num: int,
    h: _History,
    staff_ids: list[str],
) -> tuple[pa.Table, np.ndarray]:
    """A chunk's tag events: about P_STAFF_TAGGED of the friends tagged by the staff member of
    their first friendship while it lasts, a 客户身份 tag mostly as their survey says, a child's
    age for a mum, further tags of interests, intentions and service; some removed later. And
    our sync's tags on P_SYNC_TAGGED of the friends, set at night. Also the events' times."""
    n = len(h.reg_s)
    friend = h.friend_start >= 0
    tagged = np.flatnonzero(friend & (rng.random(n) < P_STAFF_TAGGED))
    k = len(tagged)
    identities = lib.codes("客户身份")
    said = pc.fill_null(pc.index_in(identity, pa.array(["宝妈", "学生", "上班族"])), -1)
    said_code = np.array([lib.code(name) for name in ("宝妈", "学生", "上班族")], I64)
    said_idx = said.to_numpy(zero_copy_only=False)[tagged]
    drawn = identities[_pick(np.cumsum(lib.weight[identities]), rng.random(k))]
    keeps_word = (said_idx >= 0) & (rng.random(k) >= P_IDENTITY_CONTRADICTS)
    id_tag = np.where(keeps_word, said_code[np.maximum(said_idx, 0)], drawn)
    has_id = rng.random(k) < P_IDENTITY_TAG
    ages = lib.codes("宝宝年龄")
    baby = has_id & (id_tag == lib.code("宝妈")) & (rng.random(k) < P_BABY_AGE)
    age_tag = ages[_pick(np.cumsum(lib.weight[ages]), rng.random(k))]
    others = np.concatenate([lib.codes(g) for g in STAFF_TAG_OTHER_GROUPS])
    other_w = np.concatenate(
        [lib.weight[lib.codes(g)] * w for g, w in STAFF_TAG_OTHER_GROUPS.items()]
    )
    extra = rng.poisson(STAFF_TAGS_EXTRA, k) + ~has_id
    e_cust = np.repeat(tagged, extra)
    e_tag = others[_pick(np.cumsum(other_w / other_w.sum()), rng.random(len(e_cust)))]
    cust = np.concatenate([tagged[has_id], tagged[baby], e_cust])
    tag = np.concatenate([id_tag[has_id], age_tag[baby], e_tag])
    _, first = np.unique(cust * len(lib.name) + tag, return_index=True)
    cust, tag = cust[np.sort(first)], tag[np.sort(first)]

    # Set while the friendship and the tag both exist, mostly early in the friendship.
    ends = np.where(lib.deleted_s >= 0, lib.deleted_s, np.iinfo(I64).max)
    lo = np.maximum(h.friend_start[cust] + 600, lib.created_s[tag])
    hi = np.minimum(h.friend_end[cust], ends[tag])
    ok = hi - lo > 2 * 3600
    cust, tag, lo, hi = cust[ok], tag[ok], lo[ok], hi[ok]
    m = len(cust)
    add_s = lo + ((hi - lo - 3600) * rng.random(m) ** 2).astype(I64)
    removed = rng.random(m) < P_TAG_REMOVED
    remove_s = add_s + 3600 + ((hi - add_s - 3600) * rng.random(m)).astype(I64)

    # Our sync's tags, set in the small hours of a night while the friendship lasts.
    synced = np.flatnonzero(friend & (rng.random(n) < P_SYNC_TAGGED))
    s_tag = lib.codes(SYNC_TAG_GROUP)[rng.integers(0, len(SYNCED_TAGS), len(synced))]
    window = h.friend_end[synced] - h.friend_start[synced]
    night = (h.friend_start[synced] + (window * rng.random(len(synced))).astype(I64)) // DAY
    s_at = night * DAY + DAY + 2 * 3600 + rng.integers(0, 1800, len(synced))
    s_ok = s_at < h.friend_end[synced]
    synced, s_tag, s_at = synced[s_ok], s_tag[s_ok], s_at[s_ok]

    cust = np.concatenate([cust, cust[removed], synced])
    tag = np.concatenate([tag, tag[removed], s_tag])
    action = np.concatenate(
        [np.zeros(m, I64), np.ones(int(removed.sum()), I64), np.zeros(len(synced), I64)]
    )
    ts = np.concatenate([add_s, remove_s[removed], s_at])
    order = np.lexsort((tag, ts, cust))  # by customer, then time
    cust, tag, action, ts = (a[order] for a in (cust, tag, action, ts))
    if not len(ts):  # a few customers, none tagged
        columns = ("staff_id", "customer_id", "tag_group", "tag_name", "action", "event_ts")
        return pa.table({c: pa.array([], pa.string()) for c in columns}), ts
    table = pa.table(
        {
            "staff_id": _take(staff_ids, h.primary_staff[cust]),
            "customer_id": _ids("C", first_num + cust, ID_WIDTH["customer"]),
            "tag_group": _take(lib.group, tag),
            "tag_name": _take(lib.name, tag),
            "action": _take(STAFF_TAG_ACTIONS, action),
            "event_ts": _fmt_ts(ts, _ts_style(rng, len(ts))),
        }
    )
    return table, ts


# ---------------------------------------------------------------------------------------------
# Bad rows
# ---------------------------------------------------------------------------------------------


def _shift_ts(value: str, seconds: int) -> str:
    parsed = dt.datetime.fromisoformat(value) + dt.timedelta(seconds=seconds)
    return parsed.isoformat() if parsed.tzinfo else parsed.strftime("%Y-%m-%d %H:%M:%S")


def _to_2099(value: str) -> str:
    return "2099" + (
        value[4:].replace("-02-29", "-02-28", 1) if value[4:10] == "-02-29" else value[4:]
    )


class _BadRows:
    """Builds the contract-violating rows of one chunk and splices them in."""

    def __init__(self, rate: float, counters: _Counters, catalog: _Catalog, customers: int):
        self.rate = rate
        self.counters = counters
        self.catalog = catalog
        self.customers = customers
        self.summary = {s: dict.fromkeys(BAD_SPECS[s].kinds, 0) for s in SOURCES}
        # Set once the groups are drawn: their number, and the one a conflicting copy is of.
        self.n_groups = 0
        self.conflicting_group = 0
        # Tags of the library made up for bad rows, numbered; the conflicting copy's tag.
        self.bad_tags = 0
        self.conflicting_tag = 0

    def _fresh_key(self, source: str, row: dict[str, Any], j: int) -> None:
        c = self.counters
        if source == "customers":
            c.bad_customer += 1
            row["customer_id"] = f"C{self.customers + c.bad_customer:0{ID_WIDTH['customer']}d}"
        elif source == "products":
            c.bad_sku += 1
            row["sku_id"] = f"SKU{len(self.catalog.sku_ids) + c.bad_sku:04d}"
        elif source == "orders":
            row["order_id"] = f"O{c.order:0{ID_WIDTH['order']}d}"
            c.order += 1
        elif source == "order_items":
            row["line_no"] = str(100 + j)  # orders never have that many lines
        elif source == "friend_events":
            row["event_id"] = f"FE{c.event:0{ID_WIDTH['event']}d}"
            c.event += 1
        elif source == "groups":
            c.bad_group += 1
            row["group_id"] = f"G{self.n_groups + c.bad_group:0{ID_WIDTH['group']}d}"
        elif source in ("group_members", "staff_tags"):
            # A second earlier: the customer's only event of the group (tag) at that moment.
            row["event_ts"] = _shift_ts(row["event_ts"], -1 - j)
        elif source == "tag_library":
            self.bad_tags += 1
            row["tag_name"] = f"{row['tag_name']}{self.bad_tags}"
        else:
            row["interaction_id"] = f"I{c.interaction:0{ID_WIDTH['interaction']}d}"
            c.interaction += 1

    def _change_content(self, source: str, row: dict[str, Any], rng: np.random.Generator) -> None:
        if source == "customers":
            level = row["member_level"]
            row["member_level"] = MEMBER_LEVELS[(MEMBER_LEVELS.index(level) + 1) % 4]
        elif source == "products":
            row["sku_name"] = f"{row['sku_name']} (新版)"
        elif source == "orders":
            row["channel"] = SALES_CHANNELS[(SALES_CHANNELS.index(row["channel"]) + 1) % 4]
        elif source == "order_items":
            qty = int(row["quantity"]) + 1
            row["quantity"] = str(qty)
            row["line_amount"] = f"{qty * float(row['unit_price']):.2f}"
        elif source == "friend_events":
            row["event_ts"] = _shift_ts(row["event_ts"], -int(rng.integers(60, 3600)))
        elif source == "groups":
            row["name"] = f"{row['name']}（新）"
        elif source == "group_members":
            row["join_scene"] = JOIN_SCENES[(JOIN_SCENES.index(row["join_scene"]) + 1) % 3]
        elif source == "tag_library":
            row["created_at"] = _shift_ts(row["created_at"], DAY)
        elif source == "staff_tags":
            row["action"] = STAFF_TAG_ACTIONS[1 - STAFF_TAG_ACTIONS.index(row["action"])]
        else:
            t = INTERACTION_TYPES.index(row["interaction_type"])
            row["interaction_type"] = INTERACTION_TYPES[(t + 1) % len(INTERACTION_TYPES)]

    def _make(
        self,
        source: str,
        kind: str,
        row: dict[str, Any],
        j: int,
        variant: int,
        rng: np.random.Generator,
    ) -> None:
        """Turn a copy of a clean row into a bad row of this kind; j numbers it in the chunk."""
        spec = BAD_SPECS[source]
        if kind == "duplicate_row":
            return
        if kind == "duplicate_key":
            self._change_content(source, row, rng)
            return
        if kind == "missing_required":
            required = sorted(load_contract()[source].required)
            column = required[int(rng.integers(len(required)))]
            if column not in spec.key:
                self._fresh_key(source, row, j)
            row[column] = None
            return
        self._fresh_key(source, row, j)
        if kind == "bad_timestamp":
            row[spec.column("ts", source)] = BAD_TIMESTAMPS[variant % 2]
        elif kind == "future_timestamp":
            ts = spec.column("ts", source)
            row[ts] = _to_2099(row[ts])
        elif kind == "bad_number":
            number = spec.column("number", source)
            column = "line_amount" if source == "order_items" and variant % 2 else number
            row[column] = BAD_NUMBER
        elif kind == "negative_value":
            if source == "order_items":
                row["quantity"] = "0" if variant % 2 else "-1"
            else:
                number = spec.column("number", source)
                row[number] = f"-{row[number] or '30'}"
        elif kind == "end_before_start":
            end = "deleted_at" if source == "tag_library" else "dismissed_at"
            row[end] = _shift_ts(row["created_at"], -int(rng.integers(1, 30)) * DAY)
        elif kind == "unknown_enum":
            row[spec.column("enum", source)] = spec.bad_enum[variant % len(spec.bad_enum)]
        elif kind == "unknown_reference":
            if source == "order_items" and variant % 2:
                row["sku_id"] = f"SKU9{int(rng.integers(0, 1000)):03d}"
            elif source == "order_items":
                num = UNKNOWN_ORDER_BASE + int(rng.integers(0, 10**9))
                row["order_id"] = f"O{num:0{ID_WIDTH['order']}d}"
                row["line_no"] = "1"
            elif source == "group_members" and variant % 2:
                num = UNKNOWN_GROUP_BASE + int(rng.integers(0, 100_000))
                row["group_id"] = f"G{num:0{ID_WIDTH['group']}d}"
            elif source == "staff_tags" and variant % 2:
                row["tag_name"] = f"未知标签{int(rng.integers(0, 1000)):03d}"
            else:
                num = UNKNOWN_CUSTOMER_BASE + int(rng.integers(0, 10**6))
                row["customer_id"] = f"C{num:0{ID_WIDTH['customer']}d}"

    def inject(self, source: str, table: pa.Table, rng: np.random.Generator) -> pa.Table:
        n = table.num_rows
        spec = BAD_SPECS[source]
        if self.rate <= 0 or n == 0:
            return table
        per_kind = self.rate * n / len(spec.kinds)
        picks: list[np.ndarray] = []
        kinds: list[str] = []
        for kind in spec.kinds:
            rows = np.arange(n)
            if kind == "negative_value" and source == "interactions":  # needs a duration
                rows = np.flatnonzero(table["duration_s"].is_valid().to_numpy(zero_copy_only=False))
            if kind == "duplicate_key" and source == "products":
                # A conflicting SKU is quarantined with all its order lines: pick the newest.
                rows = np.array([int(np.argmax(self.catalog.launch_s))])
            if kind == "duplicate_key" and source == "groups":
                # So is a group with its members: pick the one drawing the fewest.
                rows = np.array([self.conflicting_group])
            if kind == "duplicate_key" and source == "group_members":  # a join has a scene
                rows = np.flatnonzero(pc.equal(table["event_type"], "join").to_numpy(False))
            if kind == "duplicate_key" and source == "tag_library":
                # A conflicting tag is unknown with all its staff tags: pick the rarest.
                rows = np.array([self.conflicting_tag])
            if not len(rows):
                continue
            count = int(rng.poisson(per_kind))
            # Every kind (and each of its variants) at least once, even in tiny outputs.
            count = max(count, _variants(source, kind) - self.summary[source][kind])
            picks.append(rows[rng.integers(0, len(rows), count)])
            kinds += [kind] * count
        src = np.concatenate(picks) if picks else np.zeros(0, I64)
        base = table.take(pa.array(src)).to_pylist()
        for j, (kind, row) in enumerate(zip(kinds, base, strict=True)):
            variant = self.summary[source][kind]
            self._make(source, kind, row, j, variant, rng)
            self.summary[source][kind] += 1
        bad = pa.Table.from_pylist(base, schema=table.schema)
        # Splice: bad row j goes right after row pos[j]; exact duplicates after their original.
        pos = rng.integers(0, n, len(src))
        dup = np.array([k == "duplicate_row" for k in kinds], bool)
        pos = np.where(dup, np.minimum(src + rng.integers(0, 50, len(src)), n - 1), pos)
        keys = np.concatenate([2 * np.arange(n, dtype=I64), 2 * pos + 1])
        order = np.argsort(keys, kind="stable")
        return pa.concat_tables([table, bad]).take(pa.array(order))


def _variants(source: str, kind: str) -> int:
    """How many distinct forms a kind takes in a source (each is injected at least once)."""
    if kind == "bad_timestamp":
        return len(BAD_TIMESTAMPS)
    if source == "order_items" and kind in ("bad_number", "negative_value", "unknown_reference"):
        return 2
    if source == "group_members" and kind == "unknown_reference":  # a customer, a group
        return 2
    if source == "staff_tags" and kind == "unknown_reference":  # a customer, a tag
        return 2
    return 1


# ---------------------------------------------------------------------------------------------
# Daily deliveries: every row dated by the day it changed, earlier versions added
# ---------------------------------------------------------------------------------------------

DELIVERY_MODES = ("full", "daily")
# single: every customer known by one id everywhere. multi: by their systems' ids, with the
# links between them and the truth (orchestration/generated_identities.py).
ID_MODES = ("single", "multi")
P_CITY_MOVE = 0.03  # customers who move to another city once after registering
PRODUCT_CORRECTIONS = 3  # SKUs whose consumption cycle is corrected after their first delivery
CYCLE_ERRORS_DAYS = np.array([-5, 5, 10, 15], I64)
# An order's status changes, in the order _orders assigns its final status (a later one wins).
STATUS_CHANGES = (
    ("paid_s", "paid_ok", 1),
    ("confirm_s", "confirm_ok", 2),
    ("refund_s", "refund_ok", 4),
    ("cancel_s", "cancel_ok", 3),
)
_KEY_SHIFT = 32  # (owner << 32) | seconds: one sortable int64 per (row, time), times < 2^32


def _change_days(owner: np.ndarray, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (owner, day) of the change times, by owner then day: the versions to
    deliver, and whether each is its owner's last (the final state)."""
    day = np.asarray(t_s, I64) // DAY
    order = np.lexsort((day, owner))
    owner, day = owner[order], day[order]
    keep = np.r_[True, (owner[1:] != owner[:-1]) | (day[1:] != day[:-1])]
    owner, day = owner[keep], day[keep]
    last = np.r_[owner[1:] != owner[:-1], True]
    return owner, day, last


def _with_day(table: pa.Table, day: np.ndarray) -> pa.Table:
    return table.append_column("_day", pa.array(np.asarray(day, I64)))


def _order_versions(
    orders: pa.Table, o: dict[str, np.ndarray]
) -> tuple[pa.Table, pa.Table, np.ndarray, np.ndarray]:
    """Orders dated by their last change (the whole file's rows, with updated_at), and the
    earlier versions: one per further day the order was placed or changed status on, as it
    stood at the end of that day. Also each earlier version's order and day, for its lines."""
    m = len(o["cust"])
    idx = np.arange(m, dtype=I64)
    owner = np.concatenate([idx, *(idx[o[ok]] for _, ok, _ in STATUS_CHANGES)])
    times = np.concatenate([o["ts"], *(o[at][o[ok]] for at, ok, _ in STATUS_CHANGES)])
    v_order, v_day, last = _change_days(owner, times)
    end = (v_day + 1) * DAY - 1
    style = o["style"][v_order]
    status = np.zeros(len(v_order), I64)
    updated = o["ts"][v_order].copy()
    stamps = {}
    for at, ok, code in STATUS_CHANGES:
        done = o[ok][v_order] & (o[at][v_order] <= end)
        status[done] = code
        updated = np.where(done, np.maximum(updated, o[at][v_order]), updated)
        stamps[at] = _fmt_ts(o[at][v_order], style, done)
    # One version per order and day: the final ones are in order, one per order.
    final = _with_day(
        orders.append_column("updated_at", _fmt_ts(updated[last], style[last])), v_day[last]
    )
    early = ~last
    columns = {
        "paid_ts": stamps["paid_s"],
        "confirmed_ts": stamps["confirm_s"],
        "cancelled_ts": stamps["cancel_s"],
        "refunded_ts": stamps["refund_s"],
        "status": _take(ORDER_STATUSES, status),
    }
    earlier = orders.take(pa.array(v_order[early]))
    for name, values in columns.items():
        earlier = earlier.set_column(
            earlier.schema.get_field_index(name), name, values.filter(pa.array(early))
        )
    earlier = earlier.append_column("updated_at", _fmt_ts(updated[early], style[early]))
    return final, _with_day(earlier, v_day[early]), v_order[early], v_day[early]


def _line_versions(
    items: pa.Table,
    item_order: np.ndarray,
    final_day: np.ndarray,
    e_order: np.ndarray,
    e_day: np.ndarray,
) -> tuple[pa.Table, pa.Table]:
    """Order lines come with every delivery of their order: with its final version, and again
    with each earlier one (a later delivery of an order's lines replaces the earlier ones)."""
    m = len(final_day)
    n_lines = np.bincount(item_order, minlength=m)
    first_line = np.cumsum(n_lines) - n_lines  # lines are grouped by order, in order
    count = n_lines[e_order]
    take = np.repeat(first_line[e_order], count) + _positions(count)
    final = _with_day(items, final_day[item_order])
    return final, _with_day(items.take(pa.array(take)), np.repeat(e_day, count))


def _customer_versions(
    customers: pa.Table, h: _History, p: _Params, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """Customers dated by their last change (with updated_at), and earlier versions: as
    registered, after each member level upgrade (lifetime spend of the orders paid, and not
    cancelled or refunded by the end, crossing a threshold when paid) and before a city move."""
    n = len(h.reg_s)
    o = h.orders
    # The draws do not depend on the data, so a customer's versions depend only on the seed.
    moves = h.has_city & (rng.random(n) < P_CITY_MOVE)
    move_s = _on_day(rng, h.reg_s + (rng.random(n) * (p.end_s - h.reg_s)).astype(I64))
    moves &= move_s // DAY > h.reg_s // DAY
    old_city = (h.city + rng.integers(1, len(CITIES), n)) % len(CITIES)
    style = _ts_style(rng, n)

    counted = np.flatnonzero(np.isin(o["status"], (1, 2)))
    by_paid = counted[np.lexsort((o["paid_s"][counted], o["cust"][counted]))]
    u_cust, u_s = o["cust"][by_paid], o["paid_s"][by_paid]
    spent = np.cumsum(o["total"][by_paid])
    first = np.r_[True, u_cust[1:] != u_cust[:-1]]
    starts = np.flatnonzero(first)
    before = (spent - o["total"][by_paid])[starts]
    spent -= np.repeat(before, np.diff(np.r_[starts, len(u_cust)]))
    level = np.searchsorted(np.array(MEMBER_SPEND_CENTS), spent, side="right")
    upgrade = level > np.where(first, 0, np.r_[0, level[:-1]])
    u_cust, u_s, level = u_cust[upgrade], u_s[upgrade], level[upgrade]

    idx = np.arange(n, dtype=I64)
    owner = np.concatenate([idx, u_cust, idx[moves]])
    v_cust, v_day, last = _change_days(owner, np.concatenate([h.reg_s, u_s, move_s[moves]]))
    end = (v_day + 1) * DAY - 1
    # The latest upgrade by the end of the version's day (keys sort by customer, then time).
    keys = (u_cust << _KEY_SHIFT) | u_s
    at = np.searchsorted(keys, (v_cust << _KEY_SHIFT) | end, side="right") - 1
    upgraded = (at >= 0) & (u_cust[np.maximum(at, 0)] == v_cust)
    v_level = np.where(upgraded, level[np.maximum(at, 0)], 0)
    moved = ~moves[v_cust] | (move_s[v_cust] <= end)
    v_city = np.where(moved, h.city[v_cust], old_city[v_cust])
    updated = np.maximum(h.reg_s[v_cust], np.where(upgraded, u_s[np.maximum(at, 0)], 0))
    updated = np.maximum(updated, np.where(moves[v_cust] & moved, move_s[v_cust], 0))

    final = customers.append_column("updated_at", _fmt_ts(updated[last], style[v_cust[last]]))
    early = ~last
    e_cust = v_cust[early]
    earlier = customers.take(pa.array(e_cust))
    columns = {
        "member_level": _take(MEMBER_LEVELS, v_level[early]),
        "province": _take([c[0] for c in CITIES], v_city[early]),
        "city": _take([c[1] for c in CITIES], v_city[early]),
    }
    for name, values in columns.items():
        earlier = earlier.set_column(earlier.schema.get_field_index(name), name, values)
    earlier = earlier.append_column("updated_at", _fmt_ts(updated[early], style[e_cust]))
    return _with_day(final, v_day[last]), _with_day(earlier, v_day[early])


def _product_versions(
    products: pa.Table, catalog: _Catalog, p: _Params, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """Products delivered on the first day (launched before it) or on launch, and a few
    delivered again later with their consumption cycle corrected (the final value)."""
    n = len(catalog.sku_ids)
    first_s = np.maximum(catalog.launch_s, p.start_s)
    first_day = first_s // DAY
    cycle = np.array([CATEGORIES[c].cycle_days or 0 for c in catalog.category.tolist()], I64)
    # Not the newest SKU: the injected conflicting version of it would hide its correction.
    eligible = np.flatnonzero(
        (cycle > 0) & (first_day < p.end_s // DAY) & (np.arange(n) != np.argmax(catalog.launch_s))
    )
    fixed = np.sort(rng.choice(eligible, min(PRODUCT_CORRECTIONS, len(eligible)), replace=False))
    fix_day = first_day[fixed] + rng.integers(1, p.end_s // DAY - first_day[fixed] + 1)
    fix_s = _on_day(rng, fix_day * DAY)
    style = _ts_style(rng, n)
    updated = first_s.copy()
    updated[fixed] = fix_s
    final = _with_day(products.append_column("updated_at", _fmt_ts(updated, style)), updated // DAY)
    wrong = np.maximum(cycle[fixed] + CYCLE_ERRORS_DAYS[rng.integers(0, 4, len(fixed))], 1)
    earlier = products.take(pa.array(fixed))
    column = earlier.schema.get_field_index("consumption_cycle_days")
    earlier = earlier.set_column(column, "consumption_cycle_days", _fmt_int(wrong))
    earlier = earlier.append_column("updated_at", _fmt_ts(first_s[fixed], style[fixed]))
    return final, _with_day(earlier, first_day[fixed])


def _dated(
    tables: dict[str, pa.Table], h: _History, p: _Params, rng: np.random.Generator
) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """A chunk's final rows, each with its delivery day (`_day`), and its earlier versions."""
    customers, early_customers = _customer_versions(tables["customers"], h, p, rng)
    orders, early_orders, e_order, e_day = _order_versions(tables["orders"], h.orders)
    final_day = orders["_day"].to_numpy()
    lines, early_lines = _line_versions(
        tables["order_items"], h.item_order, final_day, e_order, e_day
    )
    final = {
        "customers": customers,
        "orders": orders,
        "order_items": lines,
        "friend_events": _with_day(tables["friend_events"], h.friend_ts // DAY),
        "interactions": _with_day(tables["interactions"], h.interaction_ts // DAY),
    }
    earlier = {"customers": early_customers, "orders": early_orders, "order_items": early_lines}
    return final, earlier


def _check_landing(out_dir: Path, sources: Sequence[str] = SOURCES) -> None:
    """Deliveries are immutable once taken in: never write daily files over earlier ones."""
    for source in sources:
        whole = [out_dir / f"{source}.{suffix}" for suffix in ("csv", "parquet")]
        folder = out_dir / source
        found = [path for path in whole if path.exists()]
        if folder.is_dir() and any(folder.iterdir()):
            found.append(folder)
        if found:
            raise ValueError(
                _(
                    "{path} already exists: daily deliveries are written into a new or empty folder"
                ).format(path=found[0])
            )


class _DaySpool:
    """One source's rows by delivery day, spooled to disk chunk by chunk (an Arrow IPC file
    per chunk, a record batch per day), so that each day's file is written once, in one pass,
    whatever the number of customers."""

    def __init__(self, directory: Path, source: str):
        self.directory = directory
        self.source = source
        self.parts: list[tuple[Path, dict[int, int]]] = []

    def add(self, table: pa.Table) -> None:
        """Spool a chunk's rows; within a day they keep their order in `table`."""
        if not table.num_rows:
            return
        days = table["_day"].to_numpy()
        order = np.argsort(days, kind="stable")
        days = days[order]
        rows = table.drop_columns(["_day"]).take(pa.array(order)).combine_chunks().to_batches()[0]
        starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
        ends = np.r_[starts[1:], len(days)]
        path = self.directory / f"{self.source}-{len(self.parts):05d}.arrow"
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        with (
            pa.OSFile(str(path), "wb") as sink,
            pa.ipc.new_file(sink, rows.schema, options=options) as w,
        ):
            for start, stop in zip(starts.tolist(), ends.tolist(), strict=True):
                w.write_batch(rows.slice(start, stop - start))
        self.parts.append((path, {int(days[s]): k for k, s in enumerate(starts.tolist())}))

    def days(self) -> list[int]:
        return sorted({day for _, index in self.parts for day in index})

    def write(self, folder: Path, columns: tuple[str, ...], file_format: str) -> tuple[int, int]:
        """Write folder/YYYY-MM-DD.<format> for every day with rows; (files, rows)."""
        folder.mkdir(parents=True, exist_ok=True)
        # Decompressing a small batch on the thread pool costs more than it saves (10x).
        options = pa.ipc.IpcReadOptions(use_threads=False)
        readers = [
            (pa.ipc.open_file(pa.memory_map(str(path)), options=options), index)
            for path, index in self.parts
        ]
        rows = 0
        days = self.days()
        for day in days:
            batches = [r.get_batch(index[day]) for r, index in readers if day in index]
            name = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
            writer = _Writer(folder / f"{name}.{file_format}", columns, file_format)
            writer.write(pa.Table.from_batches(batches))
            writer.close()
            rows += writer.rows
        for path, _index in self.parts:
            path.unlink()
        return len(days), rows


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, path: Path, columns: tuple[str, ...], file_format: str):
        self.schema = pa.schema([(c, pa.string()) for c in columns])
        self.file_format = file_format
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None
        if file_format == "parquet":
            self._parquet = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self._csv = path.open("wb")
            # Raw files end their lines in LF, the exports (RFC 4180) in CRLF.
            header = [pa.array([column], type=pa.string()) for column in columns]
            self._csv.write(csv_lines(header, eol="\n"))

    def write(self, table: pa.Table) -> None:
        # The contract decides the columns and their order; one we do not produce stays empty.
        table = pa.table(
            [
                table[c] if c in table.column_names else pa.nulls(table.num_rows, pa.string())
                for c in self.schema.names
            ],
            schema=self.schema,
        )
        self.rows += table.num_rows
        if self._parquet is not None:
            self._parquet.write_table(table)
        elif self._csv is not None:
            for batch in table.to_batches(max_chunksize=CSV_SLICE):
                cells = [pc.fill_null(column, "") for column in batch.columns]
                self._csv.write(csv_lines(cells, eol="\n"))

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()


# ---------------------------------------------------------------------------------------------
# Many ids per person
# ---------------------------------------------------------------------------------------------


def truth_path(out_dir: Path, file_format: str) -> Path:
    """Where multi ids write the truth: beside the raw folder, never a source a night loads."""
    out_dir = Path(out_dir).resolve()
    return out_dir.parent / f"{out_dir.name}-identity-truth.{file_format}"


class _MultiIdOutput:
    """The customers under their systems' ids (generated_identities.MultiIds), with the
    identity_links source and the truth, written chunk by chunk like the other sources."""

    def __init__(
        self, out_dir: Path, customers: int, file_format: str, spool_dir: Path | None = None
    ):
        self.ids = MultiIds(customers)
        self.out_dir = out_dir
        self.file_format = file_format
        # Daily deliveries: the links by the day they were observed, the other ids' customers
        # rows on the day of their first activity.
        self.daily = spool_dir is not None
        self.links: _Writer | None = None
        self.link_spool: _DaySpool | None = None
        if spool_dir is not None:
            self.link_spool = _DaySpool(spool_dir, "identity_links")
        else:
            self.links = _Writer(
                out_dir / f"identity_links.{file_format}", self.link_columns(), file_format
            )
        self.link_rows = 0
        self.link_files = 0
        self.truth_path = truth_path(out_dir, file_format)
        self.truth = _Writer(self.truth_path, ("id", "person"), file_format)
        self.pending_customers: pa.Table | None = None
        self.chunk_ids = pa.array([], pa.string())

    def chunk(
        self, tables: dict[str, pa.Table], h: _History, first_num: int, rng: np.random.Generator
    ) -> dict[str, pa.Table]:
        """The chunk's tables under the systems' ids; the other ids' customers rows wait for
        `other_customers`, after the bad rows, which are made from member rows alone."""
        persons = self.ids.chunk(tables, first_num, h.reg_s, h.orders["ts"], h.friend_ts, rng)
        if self.link_spool is not None:
            self.link_spool.add(_with_day(persons.links, _day_of(persons.links["linked_at"])))
        else:
            assert self.links is not None
            self.links.write(persons.links)
        self.truth.write(persons.truth)
        self.pending_customers = persons.other_customers
        self.chunk_ids = persons.truth["id"]
        return persons.tables

    def bad_customers(self, customers: pa.Table) -> None:
        """The customer ids bad rows made up (a fresh key): each its own person in the truth."""
        ids = pc.drop_null(pc.unique(customers["customer_id"]))
        made_up = ids.filter(pc.invert(pc.is_in(ids, value_set=self.chunk_ids)))
        self.truth.write(pa.table({"id": made_up, "person": made_up}))

    def other_customers(self) -> pa.Table:
        assert self.pending_customers is not None
        table = self.pending_customers
        if self.daily:
            registered = table["registered_at"]
            table = _with_day(table.append_column("updated_at", registered), _day_of(registered))
        return table

    def group_members(self, members: pa.Table) -> pa.Table:
        column = members.schema.get_field_index("customer_id")
        return members.set_column(column, "customer_id", wecom_ids(members["customer_id"]))

    @staticmethod
    def link_columns() -> tuple[str, ...]:
        return load_contract()["identity_links"].columns

    def finish(self) -> None:
        self.truth.write(self.ids.noise_truth())
        if self.link_spool is not None:
            self.link_files, self.link_rows = self.link_spool.write(
                self.out_dir / "identity_links", self.link_columns(), self.file_format
            )

    def close(self) -> None:
        if self.links is not None:
            self.links.close()
            self.link_rows = self.links.rows
        self.truth.close()


def _day_of(local_times: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The day (since 1970-01-01) of '2025-03-04 10:15:00' local times."""
    stamps = pc.strptime(local_times, format="%Y-%m-%d %H:%M:%S", unit="s")
    return pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False) // DAY


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def generate(
    out_dir: Path,
    *,
    customers: int,
    seed: int = 42,
    file_format: str = "csv",
    deliveries: str = "full",
    end_date: dt.date = dt.date(2026, 10, 31),
    years: int = 2,
    bad_row_rate: float = 0.002,
    progress: bool = True,
    orders_per_customer: float = 10.0,
    lines_per_order: float = 2.5,
    interactions_per_customer: float = 50.0,
    friend_events_per_customer: float = 3.0,
    ids: str = "single",
) -> dict[str, Any]:
    """Write the raw sources into out_dir and return what was written.

    deliveries="full" writes one file per source (`orders.csv`): the history as exported at
    the end of end_date. deliveries="daily" writes a landing folder of daily deliveries instead,
    `<source>/YYYY-MM-DD.<format>` for each day with rows (no file on a day without any): each
    order on the day it was placed and again, as a new version with `updated_at`, on each day
    its status changed, with all its lines every time; each customer on registration and again
    after a member level upgrade or a city move; products on the first day or on launch, a few
    again with their consumption cycle corrected; groups on creation, a dismissed one again on
    its dismissal; friend events, interactions and group members' joins and leaves on their day.
    The latest version of every key is the whole file's row (with updated_at), and the bad
    rows are the whole file's, each in the delivery of the row it was made from.

    The *_per_customer / lines_per_order knobs set average volumes (orders and friend events
    approximately: orders scale the number of buying habits, friendships are capped by the staff
    count). bad_row_rate is the share of rows per source made invalid; 0 disables it, any
    positive rate injects every applicable kind at least once. Same arguments give
    byte-identical files.

    ids="multi" writes each customer under their systems' ids, with the identity_links
    source, and the truth of who is who beside out_dir (truth_path): _MultiIdOutput,
    generated_identities.MultiIds and docs/identity.md.

    Returns {"rows": {source: rows written, bad rows included},
             "bad_rows": {source: {kind: rows injected}}}, in daily mode
             "deliveries": {source: files written}, and with multi ids "truth": its path.
    """
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be csv or parquet, not {file_format!r}")
    if deliveries not in DELIVERY_MODES:
        raise ValueError(f"deliveries must be one of {DELIVERY_MODES}, not {deliveries!r}")
    if ids not in ID_MODES:
        raise ValueError(f"ids must be one of {ID_MODES}, not {ids!r}")
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise ValueError(f"customers must be in 1..{MAX_CUSTOMERS}")
    if years < 1:
        raise ValueError("years must be >= 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    contract = load_contract()

    try:
        start_date = end_date.replace(year=end_date.year - years) + dt.timedelta(days=1)
    except ValueError:  # 29 February
        start_date = dt.date(end_date.year - years, 3, 1)
    params = _Params(
        start_s=_days(start_date) * DAY,
        end_s=(_days(end_date) + 1) * DAY - 1,
        orders_per_customer=orders_per_customer,
        lines_per_order=lines_per_order,
        interactions_per_customer=interactions_per_customer,
        friend_events_per_customer=friend_events_per_customer,
        n_staff=max(3, math.ceil(customers / 1500)),
    )
    catalog_rng = np.random.default_rng([seed, 0])
    catalog = _build_catalog(catalog_rng, params.start_s, params.end_s, params.n_staff)
    counters = _Counters()
    bad = _BadRows(bad_row_rate, counters, catalog, customers)

    daily = deliveries == "daily"
    writers: dict[str, _Writer] = {}
    spools: dict[str, _DaySpool] = {}
    # The same draws as the whole files (so the same rows), and the versions from their own.
    if daily:
        _check_landing(out_dir, (*SOURCES, "identity_links") if ids == "multi" else SOURCES)
        spool_dir = out_dir / ".generate-spool"  # hidden: never taken for a delivery
        spool_dir.mkdir(exist_ok=True)
        spools = {s: _DaySpool(spool_dir, s) for s in SOURCES}
    else:
        writers = {
            s: _Writer(out_dir / f"{s}.{file_format}", contract[s].columns, file_format)
            for s in SOURCES
        }
    multi = None
    if ids == "multi":
        multi = _MultiIdOutput(out_dir, customers, file_format, spool_dir if daily else None)

    def emit(source: str, table: pa.Table, earlier: pa.Table | None = None) -> None:
        if daily:
            spools[source].add(table if earlier is None else pa.concat_tables([table, earlier]))
        else:
            writers[source].write(table)

    rows: dict[str, int] = {}
    files: dict[str, int] = {}
    try:
        products = _products_table(catalog, catalog_rng)
        early_products = None
        if daily:
            version_rng = np.random.default_rng([seed, 4])
            products, early_products = _product_versions(products, catalog, params, version_rng)
        emit("products", bad.inject("products", products, catalog_rng), early_products)
        # The groups and their members come from streams of their own: the other sources'
        # files are those of a run without them.
        group_rng = np.random.default_rng([seed, 5])
        plan, groups, group_style = _groups(group_rng, customers, params, catalog.staff_ids)
        bad.n_groups = len(plan.created_s)
        bad.conflicting_group = int(np.argmin(plan.members.sum(axis=1)))
        early_groups = None
        if daily:
            groups, early_groups = _group_versions(groups, plan, group_style)
        emit("groups", bad.inject("groups", groups, group_rng), early_groups)
        # So do the tag library and the staff tags.
        library_rng = np.random.default_rng([seed, 7])
        library = _tag_library(params)
        library_table, library_style = _tag_library_table(library, library_rng)
        bad.conflicting_tag = library.code(CONFLICTING_TAG)
        early_library = None
        if daily:
            library_table, early_library = _tag_library_versions(
                library_table, library, library_style
            )
        emit("tag_library", bad.inject("tag_library", library_table, library_rng), early_library)
        bar = tqdm(total=customers, unit="customer", disable=not progress, desc=_("generate"))
        for chunk, first_num in enumerate(range(1, customers + 1, CHUNK_SIZE)):
            n = min(CHUNK_SIZE, customers + 1 - first_num)
            rng = np.random.default_rng([seed, 1, chunk])
            tables, history = _customers_chunk(rng, first_num, n, params, catalog, counters)
            if multi is not None:
                tables = multi.chunk(
                    tables, history, first_num, np.random.default_rng([seed, 7, chunk])
                )
            earlier: dict[str, pa.Table] = {}
            if daily:
                version_rng = np.random.default_rng([seed, 3, chunk])
                tables, earlier = _dated(tables, history, params, version_rng)
            bad_rng = np.random.default_rng([seed, 2, chunk])
            for source in SOURCES:
                if source in tables:
                    table = bad.inject(source, tables[source], bad_rng)
                    emit(source, table, earlier.get(source))
                    if multi is not None and source == "customers":
                        multi.bad_customers(table)
            if multi is not None:
                emit("customers", multi.other_customers())
            member_rng = np.random.default_rng([seed, 6, chunk])
            members, member_s = _group_members(member_rng, plan, chunk, first_num, history)
            if multi is not None:
                members = multi.group_members(members)
            if daily:
                members = _with_day(members, member_s // DAY)
            emit("group_members", bad.inject("group_members", members, member_rng))
            tag_rng = np.random.default_rng([seed, 8, chunk])
            identity = tables["customers"]["identity"]
            staff_tags, tag_s = _staff_tags(
                tag_rng, library, identity, first_num, history, catalog.staff_ids
            )
            if daily:
                staff_tags = _with_day(staff_tags, tag_s // DAY)
            emit("staff_tags", bad.inject("staff_tags", staff_tags, tag_rng))
            bar.update(n)
        bar.close()
        for source in tqdm(spools, disable=not progress, desc=_("write deliveries")):
            files[source], rows[source] = spools[source].write(
                out_dir / source, contract[source].columns, file_format
            )
        if multi is not None:
            multi.finish()
    finally:
        for w in writers.values():
            w.close()
        if multi is not None:
            multi.close()
        if daily:
            shutil.rmtree(spool_dir, ignore_errors=True)

    result: dict[str, Any] = {
        "rows": rows if daily else {s: writers[s].rows for s in SOURCES},
        "bad_rows": bad.summary,
    }
    if daily:
        result["deliveries"] = files
    if multi is not None:
        result["rows"]["identity_links"] = multi.link_rows
        if daily:
            files["identity_links"] = multi.link_files
        result["truth"] = multi.truth_path
    if progress:
        print(format_summary(result), file=sys.stderr)
    return result


def format_summary(result: dict[str, Any]) -> str:
    """Human-readable table of rows written and bad rows injected per source."""
    header = (padded(_("source"), 14), padded(_("rows"), 12, right=True), _("bad rows injected"))
    lines = ["{}{}  {}".format(*header)]
    for source in result["rows"]:
        bad = result["bad_rows"].get(source, {})
        kinds = [f"{_(BAD_KIND_LABELS[kind])} {rows}" for kind, rows in bad.items() if rows]
        detail = _(", ").join(kinds) or _("none")
        lines.append(f"{source:<14}{result['rows'][source]:>12,}  {sum(bad.values())}: {detail}")
    return "\n".join(lines)
