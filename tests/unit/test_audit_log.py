"""Plain-language audit history: formatting of hand-made AuditRecords (no Kafka)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from riskstream.cli.audit import decision_text, explain, history
from riskstream.contracts.records import AuditRecord, Reason


def rec(eid: str, ts: str, outcome: str, rider: str = "r1", kind: str = "alert", **kw: object) -> AuditRecord:
    return AuditRecord(event_id=eid, ts=ts, decision_id=f"d-{eid}", decision_type=kind, rider_id=rider,
                       outcome=outcome, inputs=kw.pop("inputs", {}), reasons=kw.pop("reasons", []),
                       model_versions=kw.pop("model_versions", {"lightgbm": "v3", "river": "n=12"}), **kw)


HEAT = Reason(code="HEAT_INDEX_DANGER", value=41.9,
              text={"en": "Heat index 42 °C (≥ 39.4 °C, danger)", "zh-CN": "体感温度 42°C（≥ 39.4°C，危险级）"})


def test_history_is_one_rider_oldest_first_since_a_time_without_repeats() -> None:
    records = [
        rec("c", "2026-07-15T04:00:00Z", "premium multiplier 1.000 -> 1.050, band high, published"),
        rec("a", "2026-07-15T02:00:00Z", "alert heat/warning sent"),
        rec("x", "2026-07-15T03:00:00Z", "alert heat/warning sent", rider="r2"),
        rec("b", "2026-07-15T03:00:00Z", "alert heat/danger sent", reasons=[HEAT]),
        rec("b", "2026-07-15T03:00:00Z", "alert heat/danger sent", reasons=[HEAT]),  # redelivered
    ]
    lines = history(records, "r1", since=datetime(2026, 7, 15, 2, 30))
    assert [line.split(" | ")[0] for line in lines] == ["2026-07-15 03:00:00 UTC", "2026-07-15 04:00:00 UTC"]
    assert "alert sent: heat (danger)" in lines[0] and "Heat index 42 °C" in lines[0]
    assert "1.000 → 1.050" in lines[1] and "risk band high" in lines[1]
    assert len(history(records, "r1")) == 3
    assert history(records, "nobody") == []


def test_a_line_carries_thresholds_inputs_models_and_conservative_mode() -> None:
    r = rec("a", "2026-07-15T02:12:00Z", "alert heat/danger sent", reasons=[HEAT],
            inputs={"heat_index_c": 41.8518, "cn_heat_40": 0.0, "hrr_pct": None},
            thresholds={"heat_index_c.danger.enter": 39.4, "heat_index_c.danger.exit": 38.3},
            conservative_mode=True)
    line = explain(r)
    assert "thresholds: heat_index_c.danger.enter=39.4, heat_index_c.danger.exit=38.3" in line
    assert "inputs: cn_heat_40=0, heat_index_c=41.85, hrr_pct=n/a" in line
    assert "models: lightgbm=v3, river=n=12" in line
    assert line.endswith("conservative mode: on")
    assert explain(rec("b", "2026-07-15T02:12:00Z", "alert heat/danger sent")).endswith("conservative mode: off")


def test_chinese_explanations_use_chinese_reason_text_and_words() -> None:
    r = rec("a", "2026-07-15T02:12:00Z", "alert heat/danger sent", reasons=[HEAT], conservative_mode=True)
    line = explain(r, "zh-CN")
    assert "已发送提醒：高温（危险）" in line
    assert "原因：体感温度 42°C（≥ 39.4°C，危险级）" in line
    assert line.endswith("保守模式：开启")
    assert "Heat index" not in line


@pytest.mark.parametrize(("outcome", "en", "zh"), [
    ("alert riding/warning suppressed: cooldown", "alert held back: riding behaviour (warning) — the same alert "
     "was sent shortly before (cooldown)", "提醒未发送：骑行行为（警告）——不久前已发送同类提醒（冷却期）"),
    ("alert model_risk/danger suppressed: hourly_cap", "alert held back: overall risk (danger) — the hourly alert "
     "limit was reached", "提醒未发送：综合风险（危险）——已达每小时提醒上限"),
    ("alert heat/warning suppressed: budget", "alert held back: heat (warning) — the rider's alert budget was used "
     "up (warnings and reminders wait; dangers do not)", "提醒未发送：高温（警告）——骑手的提醒额度已用完（警告和重复提醒稍后再发，危险提醒不受限）"),
    ("alert weather/warning suppressed: offline", "alert held back: weather (warning) — the rider was not online "
     "(warnings and reminders only go to riders at work)", "提醒未发送：天气（警告）——骑手不在线（警告和重复提醒只发给在岗骑手）"),
    ("premium multiplier new -> 1.000, band moderate, published",
     "premium multiplier new → 1.000 (risk band moderate), sent to the insurer",
     "保费系数 首次 → 1.000（风险等级：中），已发送给保险公司"),
    ("escalated to the safety team: no_response after 120 s",
     "escalated to the safety team: no answer to 'Are you OK?' after 120 s", "已上报安全团队：骑手未回复“是否安好”，等待 120 秒"),
    ("escalation cancelled: rider answered OK after 35 s",
     "escalation cancelled: the rider answered OK after 35 s", "已取消上报：骑手在 35 秒后回复“没事”"),
    ("conservative mode on: 3 misjudgements", "alert: conservative mode on: 3 misjudgements",
     "alert: conservative mode on: 3 misjudgements"),
])
def test_every_outcome_form_reads_as_a_sentence(outcome: str, en: str, zh: str) -> None:
    r = rec("a", "2026-07-15T02:00:00Z", outcome)
    assert decision_text(r, "en") == en
    assert decision_text(r, "zh-CN") == zh


def test_missing_translation_falls_back_to_english_then_the_code() -> None:
    only_en = Reason(code="X", text={"en": "only english"})
    no_text = Reason(code="CODE_ONLY")
    line = explain(rec("a", "2026-07-15T02:00:00Z", "alert heat/warning sent", reasons=[only_en, no_text]), "zh-CN")
    assert "原因：only english；CODE_ONLY" in line


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="zh-CN"):
        explain(rec("a", "2026-07-15T02:00:00Z", "alert heat/warning sent"), "fr")


def test_naive_since_is_utc() -> None:
    records = [rec("a", "2026-07-15T02:00:00Z", "alert heat/warning sent")]
    assert history(records, "r1", since=datetime(2026, 7, 15, 2, 0)) == history(
        records, "r1", since=datetime(2026, 7, 15, 2, 0, tzinfo=timezone.utc))
    assert history(records, "r1", since=datetime(2026, 7, 15, 2, 0, 1)) == []


def test_partition_for_key_matches_the_producers_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    from riskstream.cli.audit import partition_for_key

    partitioner = DefaultPartitioner()
    for n in (1, 2, 4, 12):
        parts = list(range(n))
        for i in range(500):
            key = f"rider-{i:05d}"
            assert partition_for_key(key, n) == partitioner(key.encode(), parts, parts)


def test_a_history_with_model_decisions_says_what_a_model_number_is() -> None:
    from riskstream.cli.audit import world_note
    from riskstream.contracts.records import AuditRecord

    rec = AuditRecord(event_id="a1", ts="2026-07-15T02:12:00Z", decision_id="d1", decision_type="alert", rider_id="r1",
                      outcome="alert model_risk/warning sent", inputs={}, thresholds={}, reasons=[],
                      model_versions={"lightgbm": "lgbm-x", "river": "r", "rules": "1"})
    note = world_note([rec], "en")
    assert note and "simulated" in note and "500x" in note and "60 min" in note
    assert "500 倍" in (world_note([rec], "zh-CN") or "")
    assert world_note([rec.model_copy(update={"model_versions": {"rules": "1", "lightgbm": "none"}})]) is None
