"""Plain-language history of one rider's decisions, from ``audit.decisions`` records.

The formatting is pure (:func:`explain`, :func:`history`): one line per decision with the
time, what was decided, the reasons in the chosen language, the thresholds and input values
used, the model versions and whether the conservative mode was on. :func:`read_decisions`
reads the topic up to its current end (no consumer group) for the CLI
(``riskstream audit --rider ID``). The topic is keyed by rider id, so one rider's records
all sit in one partition (:func:`partition_for_key`, the producers' default murmur2
partitioner) and ``--since`` seeks by Kafka's time index: at 3-year retention a lookup
reads one partition from the first offset at that time, not the whole topic.

>>> from riskstream.contracts.records import AuditRecord, Reason
>>> rec = AuditRecord(event_id="a1", ts="2026-07-15T02:12:00Z", decision_id="d1", decision_type="alert",
...     rider_id="r1", outcome="alert heat/danger sent", inputs={"heat_index_c": 41.85},
...     thresholds={"heat_index_c.danger.enter": 39.4},
...     reasons=[Reason(code="HEAT_INDEX_DANGER", value=41.85, text={"en": "Heat index 42 °C", "zh-CN": "体感温度 42°C"})],
...     model_versions={"rules": "1"}, conservative_mode=True)
>>> for part in explain(rec).split(" | "):
...     print(part)
2026-07-15 02:12:00 UTC
alert sent: heat (danger)
reasons: Heat index 42 °C
thresholds: heat_index_c.danger.enter=39.4
inputs: heat_index_c=41.85
models: rules=1
conservative mode: on
>>> print(explain(rec, "zh-CN").split(" | ")[1])
已发送提醒：高温（危险）
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from riskstream.contracts.records import AuditRecord

LANGS = ("en", "zh-CN")

#: Words of the explanations, by language.
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "reasons": "reasons", "thresholds": "thresholds", "inputs": "inputs", "models": "models",
        "conservative": "conservative mode", "on": "on", "off": "off", "none": "none",
        "alert_sent": "alert sent: {kind} ({severity})",
        "alert_held": "alert held back: {kind} ({severity}) — {why}",
        "escalation_up": "escalated to the safety team: {why} after {s} s",
        "escalation_cancel": "escalation cancelled: the rider answered OK after {s} s",
        "premium": "premium multiplier {prev} → {new} (risk band {band}), {pub}",
        "published": "sent to the insurer", "not_published": "not sent",
        "new": "new",
    },
    "zh-CN": {
        "reasons": "原因", "thresholds": "阈值", "inputs": "输入值", "models": "模型版本",
        "conservative": "保守模式", "on": "开启", "off": "关闭", "none": "无",
        "alert_sent": "已发送提醒：{kind}（{severity}）",
        "alert_held": "提醒未发送：{kind}（{severity}）——{why}",
        "escalation_up": "已上报安全团队：{why}，等待 {s} 秒",
        "escalation_cancel": "已取消上报：骑手在 {s} 秒后回复“没事”",
        "premium": "保费系数 {prev} → {new}（风险等级：{band}），{pub}",
        "published": "已发送给保险公司", "not_published": "未发送",
        "new": "首次",
    },
}
_KINDS = {
    "en": {"model_risk": "overall risk", "riding": "riding behaviour", "fall": "suspected fall"},
    "zh-CN": {"heat": "高温", "strain": "身体负荷", "fatigue": "疲劳", "weather": "天气", "riding": "骑行行为",
              "fall": "疑似摔倒", "model_risk": "综合风险"},
}
_SEVERITY = {"zh-CN": {"info": "提示", "warning": "警告", "danger": "危险"}}
_BANDS = {"zh-CN": {"low": "低", "moderate": "中", "high": "高", "severe": "严重"}}
_WHY = {
    "en": {"cooldown": "the same alert was sent shortly before (cooldown)",
           "hourly_cap": "the hourly alert limit was reached",
           "covered": "a specific alert on the same risk was sent shortly before",
           "budget": "the rider's alert budget was used up (warnings and reminders wait; dangers do not)",
           "offline": "the rider was not online (warnings and reminders only go to riders at work)",
           "low_risk": "the rider's estimated risk was too low to spend the alert budget on it (kept for a riskier moment)",
           "no_response": "no answer to 'Are you OK?'", "rider_needs_help": "the rider asked for help"},
    "zh-CN": {"cooldown": "不久前已发送同类提醒（冷却期）", "hourly_cap": "已达每小时提醒上限",
              "covered": "不久前已就同一风险发送具体提醒",
              "budget": "骑手的提醒额度已用完（警告和重复提醒稍后再发，危险提醒不受限）",
              "offline": "骑手不在线（警告和重复提醒只发给在岗骑手）",
              "low_risk": "骑手的预估风险较低，未动用提醒额度（留给风险更高的时候）",
              "no_response": "骑手未回复“是否安好”", "rider_needs_help": "骑手请求帮助"},
}

_ALERT = re.compile(r"^alert (?P<kind>[\w-]+)/(?P<severity>\w+) (?:(?P<sent>sent)|suppressed: (?P<why>\w+))$")
_PREMIUM = re.compile(r"^premium multiplier (?P<prev>new|[\d.]+) -> (?P<new>[\d.]+), band (?P<band>\w+), "
                      r"(?P<pub>published|not published)$")
_ESCALATED = re.compile(r"^escalated to the safety team: (?P<why>\w+) after (?P<s>\d+) s$")
_CANCELLED = re.compile(r"^escalation cancelled: rider answered OK after (?P<s>\d+) s$")


def _tr(table: dict[str, dict[str, str]], lang: str, key: str) -> str:
    return table.get(lang, {}).get(key, key.replace("_", " ") if lang == "en" else key)


def _number(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == int(x) and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.4g}" if abs(x) < 1 else f"{x:.2f}".rstrip("0").rstrip(".")


def decision_text(rec: AuditRecord, lang: str = "en") -> str:
    """What was decided, in ``lang``; the stored outcome when its form is unknown.

    >>> from riskstream.contracts.records import AuditRecord
    >>> r = AuditRecord(event_id="a", ts="2026-07-15T03:00:00Z", decision_id="d", decision_type="premium_signal",
    ...     outcome="premium multiplier 1.000 -> 1.050, band high, published", inputs={}, reasons=[], model_versions={})
    >>> decision_text(r), decision_text(r, "zh-CN")
    ('premium multiplier 1.000 → 1.050 (risk band high), sent to the insurer', '保费系数 1.000 → 1.050（风险等级：高），已发送给保险公司')
    """
    w = _WORDS[lang]
    if m := _ALERT.match(rec.outcome):
        kind, sev = _tr(_KINDS, lang, m["kind"]), _tr(_SEVERITY, lang, m["severity"])
        if m["sent"]:
            return w["alert_sent"].format(kind=kind, severity=sev)
        return w["alert_held"].format(kind=kind, severity=sev, why=_tr(_WHY, lang, m["why"]))
    if m := _PREMIUM.match(rec.outcome):
        prev = w["new"] if m["prev"] == "new" else m["prev"]
        pub = w["published"] if m["pub"] == "published" else w["not_published"]
        return w["premium"].format(prev=prev, new=m["new"], band=_tr(_BANDS, lang, m["band"]), pub=pub)
    if m := _ESCALATED.match(rec.outcome):
        return w["escalation_up"].format(why=_tr(_WHY, lang, m["why"]), s=m["s"])
    if m := _CANCELLED.match(rec.outcome):
        return w["escalation_cancel"].format(s=m["s"])
    return f"{rec.decision_type}: {rec.outcome}"


#: What a model number in these records is (printed once before a history that holds model decisions).
WORLD_NOTE = {
    "en": ("Model risks here are probabilities of an incident within the model horizon (60 min) in the simulated "
           "world the model was fit on, whose incident rates are 500x the assumed real rates: read them against the "
           "model card's population (relative risk), not as a real rider's absolute risk."),
    "zh-CN": ("这里的模型风险是模型时间窗（60 分钟）内发生事故的概率，来自训练模型所用的模拟世界，其事故率是假定真实事故率的 "
              "500 倍：请与模型卡中的人群平均相比较（相对风险），不要当作真实骑手的绝对风险。"),
}


def world_note(records: Iterable[AuditRecord], lang: str = "en") -> str | None:
    """:data:`WORLD_NOTE` if any record was decided with a model (LightGBM or River), else ``None``.

    >>> world_note([], "en") is None
    True
    """
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not supported; choose one of {LANGS}")
    models = {k for rec in records for k, v in rec.model_versions.items() if v not in ("none", "")}
    return WORLD_NOTE[lang] if models & {"lightgbm", "river"} else None


def explain(rec: AuditRecord, lang: str = "en") -> str:
    """One line: time | decision | reasons | thresholds | inputs | models | conservative mode."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not supported; choose one of {LANGS}")
    w = _WORDS[lang]
    sep, colon = ("；", "：") if lang == "zh-CN" else ("; ", ": ")
    reasons = sep.join(r.text.get(lang) or r.text.get("en") or r.code for r in rec.reasons) or w["none"]
    thresholds = ", ".join(f"{k}={_number(v)}" for k, v in sorted(rec.thresholds.items())) or w["none"]
    inputs = ", ".join(f"{k}={_number(v)}" for k, v in sorted(rec.inputs.items())) or w["none"]
    models = ", ".join(f"{k}={v}" for k, v in sorted(rec.model_versions.items())) or w["none"]
    when = rec.ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return " | ".join((
        when, decision_text(rec, lang), f"{w['reasons']}{colon}{reasons}", f"{w['thresholds']}{colon}{thresholds}",
        f"{w['inputs']}{colon}{inputs}", f"{w['models']}{colon}{models}",
        f"{w['conservative']}{colon}{w['on'] if rec.conservative_mode else w['off']}",
    ))


def history(records: Iterable[AuditRecord], rider_id: str, since: datetime | None = None,
            lang: str = "en") -> list[str]:
    """The rider's decisions at or after ``since``, oldest first, one line each; repeats (same event id) once."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    seen: set[str] = set()
    mine = []
    for rec in records:
        if rec.rider_id != rider_id or rec.event_id in seen or (since is not None and rec.ts < since):
            continue
        seen.add(rec.event_id)
        mine.append(rec)
    mine.sort(key=lambda r: r.ts)  # stable: same-time decisions keep their log order
    return [explain(r, lang) for r in mine]


#: ``since`` seeks this much earlier in Kafka's time index (send time) than the decision time asked for.
SINCE_MARGIN_S = 3600.0


def partition_for_key(key: str, partitions: int) -> int:
    """The partition a keyed record lands in under Kafka's default partitioner (murmur2, as aiokafka and Java).

    >>> partition_for_key("r1", 4), partition_for_key("rider-0001", 4)
    (0, 3)
    """
    from aiokafka.partitioner import murmur2

    if partitions < 1:
        raise ValueError(f"partitions must be ≥ 1, got {partitions}")
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


async def read_decisions(settings: Any, rider_id: str | None = None, timeout_s: float = 30.0,
                         since: datetime | None = None, all_partitions: bool = False) -> list[AuditRecord]:
    """Every parsable record of the audit topic up to the end offsets at start.

    No consumer group (nothing is committed). With ``rider_id``, only that rider's records,
    read from the rider's partition alone unless ``all_partitions`` (for a topic written with
    another partitioner). With ``since``, reading starts in each partition at the first offset
    sent at or after ``since`` less :data:`SINCE_MARGIN_S` (Kafka's time index) instead of the
    beginning; :func:`history` then keeps the decisions at or after ``since``. Unparsable
    records are skipped and counted in the log.
    """
    import asyncio
    import logging

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaConnectionError

    from riskstream.contracts.errors import BrokerError
    from streams.kafka import consumer_kwargs

    log = logging.getLogger(__name__)
    topic = settings.topics.audit
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                **consumer_kwargs(settings.kafka))
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError, OSError) as exc:
        raise BrokerError(f"RISKSTREAM_KAFKA__BROKER is not reachable at {settings.kafka.bootstrap_servers} "
                          f"({exc.__class__.__name__})") from None
    out: list[AuditRecord] = []
    bad = 0
    try:
        ids = consumer.partitions_for_topic(topic) if topic in await consumer.topics() else None
        if not ids:
            raise BrokerError(f"topic {topic!r} does not exist on {settings.kafka.bootstrap_servers}")
        if rider_id is not None and not all_partitions:
            ids = {partition_for_key(rider_id, len(ids))}
        tps = [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        start = {tp: 0 for tp in tps}
        if since is not None:
            when = since if since.tzinfo is not None else since.replace(tzinfo=timezone.utc)
            # Kafka's index holds send times; a record is sent after its decision, except for a clock ahead
            seek_ms = int((when.timestamp() - SINCE_MARGIN_S) * 1000)
            found = await consumer.offsets_for_times({tp: seek_ms for tp in tps})
            start = {tp: (found[tp].offset if found.get(tp) is not None else end[tp]) for tp in tps}
        for tp in tps:
            consumer.seek(tp, start[tp])
        left = {tp for tp in tps if end[tp] > start[tp]}
        log.debug("reading %s partitions %s from offsets %s to %s", topic, sorted(ids),
                  {tp.partition: start[tp] for tp in tps}, {tp.partition: end[tp] for tp in tps})
        deadline = asyncio.get_running_loop().time() + timeout_s
        while left:
            if asyncio.get_running_loop().time() > deadline:
                raise BrokerError(f"timed out reading {topic} after {timeout_s:.0f} s")
            batches = await consumer.getmany(*left, timeout_ms=500)
            for tp, messages in batches.items():
                for msg in messages:
                    if msg.offset >= end[tp]:
                        break
                    key = msg.key.decode(errors="replace") if msg.key else None
                    if rider_id is not None and key is not None and key != rider_id:
                        continue
                    try:
                        rec = AuditRecord.model_validate_json(msg.value or b"")
                    except ValueError:
                        bad += 1
                        continue
                    if rider_id is None or rec.rider_id == rider_id:
                        out.append(rec)
            for tp in list(left):
                if await consumer.position(tp) >= end[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    if bad:
        log.warning("%d unreadable record(s) in %s skipped", bad, topic)
    return out
