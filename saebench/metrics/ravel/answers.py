"""Is a generated continuation RAVEL's expected answer? RAVEL's answer matching, as SAEBench applies it
(`evaluate_completion`): the continuation is cut at the first double quote, stripped and lower-cased, and
matches when it and the label are prefixes of one another; with special cases for coordinates (within 2
degrees of the label's number), the United States / United Kingdom (England accepted, "the " ignored),
South Korea ("korea"), North America ("na", "america..."), Mandarin ("chinese"), lists of languages (any
one), and time zones named in a UTC prompt.

One deliberate difference: SAEBench converts a time-zone label to its UTC offset *today*, so a score
changes with the date of the run (daylight saving time) and then patches summer cases with a ±1 hour
window. Here a zone's offsets in January and July of a fixed year (2024) are both accepted — the same
answers on every date, and DST-tolerant for every zone rather than only the American/European/African ones.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

REFERENCE_DATES = (datetime.datetime(2024, 1, 15, 12), datetime.datetime(2024, 7, 15, 12))


def _prefix_match(out: str, label: str) -> bool:
    return out.startswith(label) if len(label) < len(out) else label.startswith(out)


@lru_cache(maxsize=4096)
def utc_offset_hours(zone: str) -> tuple[float, ...]:
    """The distinct UTC offsets (hours) of an IANA zone on the reference dates; () for an unknown zone."""
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        return ()
    return tuple(sorted({tz.utcoffset(d).total_seconds() / 3600 for d in REFERENCE_DATES}))


def _utc_match(label: str, out: str) -> bool:
    offsets = utc_offset_hours(label)
    found = re.search(r"([+\-−])\s*(\d{1,2})(?::(\d{2}))?", out)
    if not offsets or not found:
        return False
    sign = -1 if found.group(1) in "-−" else 1
    said = sign * (int(found.group(2)) + int(found.group(3) or 0) / 60)
    # "+13" for "-11" and the like: the same clock read the other way round the date line
    candidates = {said, said - 24 if said > 0 else said + 24}
    return any(abs(c - o) < 1e-6 for c in candidates for o in offsets)


def answer_matches(prompt: str, label: str, continuation: str) -> bool:
    """Whether `continuation` (generated after `prompt`) gives RAVEL's `label` (see the module docstring)."""
    if not label:
        return False
    norm_label = label.lower()
    out = continuation.split('"')[0].strip(' "').replace("\\/", "/").lower()
    if not out:
        return False
    lowered_prompt = prompt.lower()
    if "coord" in prompt or "latitude" in lowered_prompt or "longitude" in lowered_prompt:
        digits = re.findall(r"\d+", out)
        try:
            return bool(digits) and abs(float(norm_label.strip("-−")) - float(digits[0])) <= 2
        except ValueError:
            return False
    if "United States" in label or "United Kingdom" in label:
        stripped_label, stripped_out = label.strip().replace("the ", ""), continuation.strip().replace("the ", "")
        return stripped_out.startswith(stripped_label) or stripped_out.startswith("England")
    if "South Korea" in label:
        return out.startswith("korea") or out.startswith("south korea")
    if "North America" in label:
        return norm_label in out or out == "na" or out.startswith("america")
    if "Mandarin" in label:
        return out in norm_label or out == "chinese"
    if "language" in prompt and "," in norm_label:
        return any(language in out for language in norm_label.split(","))
    if "UTC" in prompt and "/" in norm_label:
        return _utc_match(label, out)
    return _prefix_match(out, norm_label)
