"""WeCom tag changes per friendship, paced for the API.

In WeCom a customer tag sits on a friendship, (staff userid, customer external_userid), and
the API that sets it (``externalcontact/mark_tag``) takes, per friendship, the tags to add and
the tags to remove. Each night the warehouse says which tags every current friendship should
carry (``marts.wecom_friendship_tags``, from the exported members of segments mapped to a
WeCom tag). Against the previous published night's state this gives, per friendship, one
mark_tag call:

- a friendship that existed both nights: add what is new, remove what is gone;
- a friendship new tonight: add everything it should carry;
- a friendship deleted in between: nothing (the tags went with the friendship, and the API
  refuses a non-friend).

The calls are numbered into minutes so that no minute exceeds the per-minute budget and no
hour the per-hour budget; a loader sends minute ``m`` at its start time plus ``m`` minutes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.wecom_tags import TAG_SEPARATOR, WecomLimits

Friendship = tuple[str, str]  # (staff_id, customer_id)


@dataclass(frozen=True)
class MarkTagCall:
    """One mark_tag call: a friendship and the tags to add and remove, in sorted order."""

    minute: int
    staff_id: str
    customer_id: str
    add_tags: tuple[str, ...]
    remove_tags: tuple[str, ...]


def parse_tags(text: str | None) -> frozenset[str]:
    """The tags of a friendship from the mart's text ('a|b'; empty or null for none)."""
    return frozenset(tag for tag in (text or "").split(TAG_SEPARATOR) if tag)


def mark_tag_calls(
    previous: Mapping[Friendship, frozenset[str]],
    current: Mapping[Friendship, frozenset[str]],
    limits: WecomLimits,
) -> list[MarkTagCall]:
    """The night's calls, one per current friendship whose tags change, sorted and paced."""
    changes = []
    for friendship in sorted(current):
        now, before = current[friendship], previous.get(friendship, frozenset())
        if now != before:
            changes.append((friendship, tuple(sorted(now - before)), tuple(sorted(before - now))))
    return [
        MarkTagCall(_minute(index, limits), staff_id, customer_id, add, remove)
        for index, ((staff_id, customer_id), add, remove) in enumerate(changes)
    ]


def _minute(index: int, limits: WecomLimits) -> int:
    """The minute slot of the index-th call: minutes filled in turn, hours capped too."""
    per_hour = min(limits.calls_per_hour, 60 * limits.calls_per_minute)
    hour, within_hour = divmod(index, per_hour)
    return hour * 60 + within_hour // limits.calls_per_minute


def dry_run_summary(calls: Iterable[MarkTagCall], largest: int = 5) -> dict[str, Any]:
    """What the calls would change: tags and friendships touched, and the largest changes."""
    calls = list(calls)
    adds: Counter[str] = Counter(tag for call in calls for tag in call.add_tags)
    removes: Counter[str] = Counter(tag for call in calls for tag in call.remove_tags)
    tags = sorted(set(adds) | set(removes))
    per_tag = {tag: {"add": adds[tag], "remove": removes[tag]} for tag in tags}
    ranked = sorted(tags, key=lambda tag: (-(adds[tag] + removes[tag]), tag))
    staff = Counter(call.staff_id for call in calls)
    return {
        "calls": len(calls),
        "friendships_touched": len({(call.staff_id, call.customer_id) for call in calls}),
        "customers_touched": len({call.customer_id for call in calls}),
        "tags_touched": len(tags),
        "adds": sum(adds.values()),
        "removes": sum(removes.values()),
        "minutes_needed": calls[-1].minute + 1 if calls else 0,
        "per_tag": per_tag,
        "largest_changes": [{"tag": tag, **per_tag[tag]} for tag in ranked[:largest]],
        "per_staff": dict(sorted(staff.items())),
    }
