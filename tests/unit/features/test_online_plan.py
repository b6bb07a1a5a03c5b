"""The online store's plan: slots, retention, layouts, key names and option checks (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.asyncio import Redis

from core.errors import ConfigError
from features.definitions import FeatureSet, FeatureSpec, Stat
from features.online import (
    OnlineFeatureStore,
    default_bucketed,
    label_script_source,
    script_source,
)
from features.online_plan import (
    SLOT_WIDTHS,
    KeySpace,
    StateMode,
    StorePlan,
    build_plan,
    lua_literal,
)
from features.spec import default_feature_set

HOUR = 3_600_000
DAY = 24 * HOUR


def _plan(feature_set: FeatureSet, bucketed: dict[str, int] | None = None) -> StorePlan:
    return build_plan(
        feature_set, bucketed=bucketed or {}, max_lateness_ms=HOUR, idempotency_ttl_ms=DAY
    )


def _set(*specs: FeatureSpec) -> FeatureSet:
    return FeatureSet(windowed=specs)


def _spec(stat: Stat, window: str = "1h", entity: str = "account_id", **kw: str) -> FeatureSpec:
    return FeatureSpec(entity=entity, stat=stat, window=window, **kw)


def test_every_windowed_feature_gets_its_own_slots_in_feature_order() -> None:
    """Slots are laid out per entity without gaps or overlaps; windowed_slots follow the names."""
    feature_set = default_feature_set()
    plan = _plan(feature_set, default_bucketed(feature_set))
    taken = [
        index
        for entity in plan.entities
        for slot in entity.specs
        for index in range(slot.first, slot.first + SLOT_WIDTHS[slot.spec.stat])
    ]
    assert taken == list(range(plan.slot_count))
    assert [name for name, _, _ in plan.windowed_slots] == [s.name for s in feature_set.windowed]


def test_state_is_kept_for_the_longest_window_plus_lag_plus_lateness() -> None:
    """keep = the entity's longest window + lag, plus max_lateness; labels likewise."""
    plan = _plan(default_feature_set())
    keep = {entity.field: entity.keep_ms for entity in plan.entities}
    assert keep == {
        "account_id": 30 * DAY + HOUR,
        "device_id": 24 * HOUR + HOUR,
        "ip_address": 24 * HOUR + HOUR,
        "merchant_id": 24 * HOUR + HOUR,
    }
    label_keep = {entity.field: entity.label_keep_ms for entity in plan.entities}
    assert label_keep == dict.fromkeys(label_keep, 30 * DAY + HOUR)
    assert plan.label_record_ttl_ms == 30 * DAY + HOUR


def test_default_bucketing_covers_merchants_only_when_all_their_stats_can_be_bucketed() -> None:
    """The merchant is approximated by default, unless a merchant spec needs exact history."""
    assert default_bucketed(default_feature_set()) == {"merchant_id": 60}
    distinct = _spec(Stat.DISTINCT, entity="merchant_id", of="account_id")
    assert default_bucketed(_set(_spec(Stat.COUNT, entity="merchant_id"), distinct)) == {}


def test_layout_ids_change_with_the_remembered_fields_not_with_windows() -> None:
    """Adding a window keeps the state keys; remembering another field starts new ones."""
    base = _plan(_set(_spec(Stat.COUNT))).entities[0].layout_id
    wider = _plan(_set(_spec(Stat.COUNT), _spec(Stat.SUM, "7d"))).entities[0].layout_id
    more = _plan(_set(_spec(Stat.COUNT), _spec(Stat.DISTINCT, of="device_id"))).entities[0]
    assert base == wider
    assert more.layout_id != base
    bucketed = _plan(_set(_spec(Stat.COUNT)), {"account": 60}).entities[0]
    assert bucketed.mode is StateMode.BUCKETED
    assert bucketed.layout_id != base


def test_plan_id_names_the_meaning_of_the_reply_rows() -> None:
    """The same specs give the same plan id; other specs or modes give another."""
    feature_set = _set(_spec(Stat.COUNT), _spec(Stat.MAX))
    assert _plan(feature_set).plan_id == _plan(feature_set).plan_id
    assert _plan(feature_set).plan_id != _plan(_set(_spec(Stat.COUNT))).plan_id
    assert _plan(feature_set).plan_id != _plan(feature_set, {"account_id": 60}).plan_id
    assert 0 < _plan(feature_set).plan_id < 2**53  # exact as a Lua number


def test_exact_plan_groups_windows_by_lag_in_ascending_order() -> None:
    """Per lag one group; its windows ascend and list (stat code, of position, slot) triples."""
    feature_set = _set(
        _spec(Stat.COUNT, "24h"),
        _spec(Stat.COUNT, "1h"),
        _spec(Stat.DISTINCT, "1h", of="device_id"),
        _spec(Stat.SUM, "24h", lag="24h"),
    )
    (entity,) = _plan(feature_set).entities
    mode, keep, of_count, groups = entity.lua(HOUR)
    assert (mode, keep, of_count) == (1, 48 * HOUR + HOUR, 1)
    assert groups == [
        [0, 0, [1], [[HOUR, 1, 0, 2, 5, 1, 3], [24 * HOUR, 1, 0, 1]]],
        [24 * HOUR, 0, [], [[24 * HOUR, 2, 0, 4]]],
    ]


def test_bucketed_plan_has_one_resolution_per_bucket_size() -> None:
    """Each window is cut into buckets_per_window buckets; specs share a resolution by size."""
    feature_set = _set(
        _spec(Stat.COUNT, "1h", entity="merchant_id"),
        _spec(Stat.MAX, "1h", entity="merchant_id"),
        _spec(Stat.SUM, "24h", entity="merchant_id"),
    )
    (entity,) = _plan(feature_set, {"merchant": 60}).entities
    assert entity.lua(HOUR) == [
        2,
        25 * HOUR,
        1,
        1,
        [
            [60_000, 2 * HOUR, [0, HOUR, 1, 1, 0, HOUR, 4, 2]],
            [24 * 60_000, 25 * HOUR, [0, 24 * HOUR, 2, 3]],
        ],
    ]


def test_label_aware_specs_read_label_state_and_the_history_count() -> None:
    """fraud_count reads the label state only; fraud_share also asks the history for the previous
    rows' count (code 9) in its second slot; both list (lag, window, delay, slot, bucket)."""
    feature_set = _set(
        _spec(Stat.FRAUD_COUNT, "7d", label_delay="1d"),
        _spec(Stat.FRAUD_SHARE, "1d", lag="1h"),
        _spec(Stat.COUNT, "1h"),
    )
    (entity,) = _plan(feature_set).entities
    assert [slot.first for slot in entity.specs] == [0, 1, 3]
    assert entity.label_lua() == [
        7 * DAY + HOUR,
        [0, 7 * DAY, DAY, 1, 0, HOUR, DAY, 0, 2, 0],
        1,
    ]
    assert entity.lua(HOUR)[3] == [
        [0, 0, [], [[HOUR, 1, 0, 4]]],
        [HOUR, 0, [], [[DAY, 9, 0, 3]]],
    ]
    assert entity.keep_ms == DAY + 2 * HOUR


def test_an_entity_with_only_fraud_counts_keeps_no_transactions() -> None:
    """fraud_count alone records no transactions (its state holds known frauds only);
    unlabelled entities get an empty label plan; the label script learns each label entity's
    mode, resolutions and retentions."""
    feature_set = _set(_spec(Stat.FRAUD_COUNT, "7d", entity="ip_address"), _spec(Stat.COUNT))
    plan = _plan(feature_set)
    ip, account = plan.entities
    assert not ip.has_history
    assert account.has_history
    assert account.label_lua() == []
    assert ip.label_lua()[2] == 0
    assert plan.label_entities == (0,)
    assert plan.label_lua_plan == f"{{{7 * DAY + HOUR},{{{{1,0,{HOUR},{7 * DAY + HOUR}}}}}}}"


def test_fraud_share_on_a_bucketed_entity_rounds_to_its_buckets() -> None:
    """A bucketed fraud_share counts both its parts over whole buckets of window / N; its bucket
    size joins the entity's resolutions (and layout); fraud_count stays exact."""
    feature_set = _set(
        _spec(Stat.COUNT, "1h", entity="merchant_id"),
        _spec(Stat.FRAUD_SHARE, "1d", entity="merchant_id"),
        _spec(Stat.FRAUD_COUNT, "1d", entity="merchant_id"),
    )
    (entity,) = _plan(feature_set, {"merchant": 60}).entities
    assert entity.label_lua()[1] == [0, DAY, 0, 2, 24 * 60_000, 0, DAY, 0, 4, 0]
    assert [resolution[0] for resolution in entity.lua(HOUR)[4]] == [60_000, 24 * 60_000]
    plain = _plan(_set(_spec(Stat.COUNT, "1h", entity="merchant_id")), {"merchant": 60})
    assert entity.layout_id != plain.entities[0].layout_id


def test_lua_literal_writes_nested_integer_lists() -> None:
    """Plans become Lua table constructors; anything but integers is refused."""
    assert lua_literal([1, [2, -3], []]) == "{1,{2,-3},{}}"
    with pytest.raises(TypeError, match="integers only"):
        lua_literal([1.5])
    with pytest.raises(TypeError, match="integers only"):
        lua_literal([True])


@pytest.mark.parametrize(
    ("bucketed", "location", "message"),
    [
        ({"account": 60}, "bucketed['account']", "stat distinct cannot be bucketed"),
        ({"acount": 60}, "bucketed['acount']", "unknown transaction field"),
        ({"merchant_id": 0}, "bucketed['merchant_id']", "must be at least 1"),
    ],
)
def test_unusable_bucketing_is_rejected_with_its_location(
    bucketed: dict[str, int], location: str, message: str
) -> None:
    """Bucketing an entity whose stats need exact history, an unknown field, or 0 buckets fail."""
    feature_set = _set(_spec(Stat.COUNT), _spec(Stat.DISTINCT, of="device_id"))
    with pytest.raises(ConfigError) as raised:
        _plan(feature_set, bucketed)
    problems = {p.location: p.message for p in raised.value.problems}
    assert message in problems[location]


def test_negative_lateness_and_empty_idempotency_window_are_rejected() -> None:
    """max_lateness must be >= 0 and idempotency_ttl > 0; both problems are reported at once."""
    with pytest.raises(ConfigError) as raised:
        build_plan(_set(_spec(Stat.COUNT)), bucketed={}, max_lateness_ms=-1, idempotency_ttl_ms=0)
    assert {p.location for p in raised.value.problems} == {"max_lateness", "idempotency_ttl"}


def test_keys_follow_the_documented_format() -> None:
    """State: {prefix}s:{entity}:{layout}:{value}; idempotency: {prefix}t:{transaction_id};
    label record: {prefix}l:{transaction_id}."""
    plan = _plan(default_feature_set())
    keys = KeySpace("vigil:f:")
    account = plan.entities[0]
    assert keys.state_key(plan, 0, "acct-1") == f"vigil:f:s:account:{account.layout_id}:acct-1"
    assert keys.state_key(plan, 2, "2001:db8::1").startswith("vigil:f:s:ip:")
    assert keys.transaction_key("t-1") == "vigil:f:t:t-1"
    assert keys.label_key("t-1") == "vigil:f:l:t-1"


def test_the_script_carries_its_plan() -> None:
    """The Lua sources start with their plan tables, so the script SHAs change with the specs."""
    plan = _plan(_set(_spec(Stat.COUNT)))
    source = script_source(plan)
    assert source.startswith(f"local PLAN = {plan.lua_plan}\n")
    assert "EVALSHA" in source
    labels = label_script_source(plan)
    assert labels.startswith(f"local PLAN = {plan.label_lua_plan}\n")


def test_a_client_that_decodes_responses_is_refused() -> None:
    """Replies are MessagePack bytes: a decode_responses=True client is a configuration error."""
    client = Redis(decode_responses=True)
    with pytest.raises(ConfigError, match="returns bytes"):
        OnlineFeatureStore(client, default_feature_set(), max_lateness=timedelta(0))
