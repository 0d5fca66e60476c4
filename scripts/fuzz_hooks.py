"""Schemathesis hooks for `npm run fuzz`: scripts/fuzz.ts names this file in the configuration it hands schemathesis.

Schemathesis generates well-formed UTF-8 only, so on its own it never sends what the API's edge check
(api/common.ts `findIllFormed`) exists for. Here a share of the cases of the fuzzing phase is poisoned, one
part of the request each, chosen by Hypothesis like any other draw (so the seed replays the same requests):

- body: a lone UTF-16 surrogate (a `\\udXXX` JSON escape; `json.dumps` writes a lone surrogate that way) or
  NUL in a string or a key, or a value nested 65 to 5000 levels deep (written as JSON text: Python's encoder
  and schemathesis' own bookkeeping recurse);
- query and path: NUL (`%00`) or the bytes a lone surrogate would have in UTF-8 (`%ED%A0%80`..`%ED%BF%BF`: a
  URL cannot carry more, percent-decoding never yields a surrogate);
- headers: those bytes as they are (obs-text). NUL is not sent in a header: HTTP forbids it and Node's parser
  answers such a request itself, before the API sees it.

Every request is looked at as it went on the wire; those carrying poison are counted by kind, answer and the
reason a 422 gave, and written to fuzz-poison.json (in the working folder) at exit. The check `poison_refused`
fails a 2xx answer to poison the edge must refuse: any poisoned JSON body, NUL in a path or declared query
parameter. (Written against schemathesis 4.32.5, which scripts/fuzz.ts pins: `flatmap_case` and `after_call`
hooks, a custom check, and the raw query string marker of `schemathesis.core.parameters`.)
"""

from __future__ import annotations

import atexit
import json
import re
from collections import Counter
from typing import Any
from urllib.parse import quote, quote_plus, unquote_to_bytes, urlsplit

import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import RAW_QUERY_STRING_KEY, RawQueryString

MAX_DEPTH = 64
"""api/common.ts `maxInputDepth`: deeper JSON is refused."""
DEEP_MIN, DEEP_MAX = MAX_DEPTH + 1, 5000
"""A poisoned value nests this many levels, wherever in the body it sits."""
SKIPPED_HEADERS = {"content-type", "content-length", "authorization", "accept", "host", "user-agent", "connection"}
DEEP_PLACEHOLDER = "\x01ates-fuzz-deep\x01"
REPORT = "fuzz-poison.json"
"""Written at exit, in the working folder: what was counted (scripts/fuzz.ts reads it)."""


def _surrogate_utf8(code: int) -> bytes:
    """The three bytes UTF-8 would give U+D800..U+DFFF if it allowed them (WTF-8)."""
    return chr(code).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------------------------------------
# Generation


def _string_slots(value: Any) -> list[tuple[list[Any], bool]]:
    """Paths to every string in a JSON value, and whether the path ends at a key (True) or a value."""
    slots: list[tuple[list[Any], bool]] = []
    stack: list[tuple[list[Any], Any]] = [([], value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            slots.append((path, False))
        elif isinstance(node, dict):
            for key, child in node.items():
                slots.append(([*path, key], True))
                stack.append(([*path, key], child))
        elif isinstance(node, list):
            stack.extend(([*path, index], child) for index, child in enumerate(node))
    slots.sort(key=lambda slot: json.dumps(slot[0], default=str))
    return slots


def _value_slots(value: Any) -> list[list[Any]]:
    """Paths to every value in a JSON value, the root included."""
    slots: list[list[Any]] = []
    stack: list[tuple[list[Any], Any]] = [([], value)]
    while stack:
        path, node = stack.pop()
        slots.append(path)
        if isinstance(node, dict):
            stack.extend(([*path, key], child) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend(([*path, index], child) for index, child in enumerate(node))
    slots.sort(key=lambda slot: json.dumps(slot, default=str))
    return slots


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value)) if isinstance(value, (dict, list)) else value


def _get(value: Any, path: list[Any]) -> Any:
    for step in path:
        value = value[step]
    return value


def _replace(root: Any, path: list[Any], new: Any) -> Any:
    if not path:
        return new
    parent = _get(root, path[:-1])
    parent[path[-1]] = new
    return root


def _rename_key(root: Any, path: list[Any], new_key: str) -> Any:
    parent = _get(root, path[:-1])
    # Keeps the order of the other keys: the key is renamed where it stands.
    items = [(new_key if key == path[-1] else key, child) for key, child in parent.items()]
    parent.clear()
    parent.update(items)
    return root


@st.composite
def _poisoned_text(draw: st.DrawFn, text: str, kind: str) -> str:
    """`text` with a lone surrogate or NUL inserted somewhere."""
    at = draw(st.integers(0, len(text)))
    inserted = chr(draw(st.integers(0xD800, 0xDFFF))) if kind == "surrogate" else "\x00"
    return text[:at] + inserted + text[at:]


@st.composite
def _poisoned_body(draw: st.DrawFn, body: Any) -> bytes:
    """The body as JSON text with poison in it, sent as it is (with the operation's media type).

    Text, not a value: schemathesis validates a changed value with jsonschema-rs, which cannot take a lone
    surrogate, and its bookkeeping (and Python's JSON encoder) recurses as deep as a value nests.
    """
    kind = draw(st.sampled_from(["surrogate", "nul", "deep"]))
    body = _copy(body)
    if kind == "deep":
        path = draw(st.sampled_from(_value_slots(body)))
        depth = draw(st.integers(DEEP_MIN, DEEP_MAX))
        inner = json.dumps(_get(body, path))
        if draw(st.booleans()):
            deep = "[" * depth + inner + "]" * depth
        else:
            deep = '{"deeper":' * depth + inner + "}" * depth
        text = json.dumps(_replace(body, path, DEEP_PLACEHOLDER))
        return text.replace(json.dumps(DEEP_PLACEHOLDER), deep, 1).encode()
    slots = _string_slots(body)
    if isinstance(body, dict) and (not slots or draw(st.integers(0, 4)) == 0):
        # An extra key: the edge check runs before any schema does, so an unknown key is refused the same way.
        body = {**body, draw(_poisoned_text("note", kind)): "x"}
    elif not slots:
        body = draw(_poisoned_text(json.dumps(body), kind))
    else:
        path, is_key = draw(st.sampled_from(slots))
        if is_key:
            body = _rename_key(body, path, draw(_poisoned_text(path[-1], kind)))
        else:
            body = _replace(body, path, draw(_poisoned_text(_get(body, path), kind)))
    # ASCII-only text: a lone surrogate is written as a `\udXXX` escape, NUL as `\u0000`.
    return json.dumps(body).encode()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


@st.composite
def _poisoned_case(draw: st.DrawFn, case: Any) -> Any:
    targets = []
    media_type = case.media_type or ""
    body = case.body
    if "json" in media_type and not isinstance(body, bytes) and type(body).__name__ != "NotSet":
        # Weighted: only a body can carry a lone surrogate or deep nesting as such.
        targets.extend(["body"] * 3)
    query_names = sorted(name for name, value in case.query.items() if isinstance(value, (str, int, float, bool)))
    if query_names:
        targets.append("query")
    path_names = sorted(name for name, value in case.path_parameters.items() if isinstance(value, str))
    if path_names:
        targets.append("path")
    header_names = sorted(
        name for name, value in case.headers.items() if isinstance(value, str) and name.lower() not in SKIPPED_HEADERS
    )
    if header_names:
        targets.append("header")
    # About half the cases stay as generated: poison is refused at the edge, and the rest still probes the routes.
    if not targets or not draw(st.booleans()):
        return case
    target = draw(st.sampled_from(targets))
    if target == "body":
        case.body = draw(_poisoned_body(body))
    elif target == "query":
        name = draw(st.sampled_from(query_names))
        text = _as_text(case.query[name])
        if draw(st.booleans()):
            case.query = {**case.query, name: draw(_poisoned_text(text, "nul"))}
        else:
            # Written out as the query string's own text (schemathesis 4.32's raw query marker, the only way to
            # send bytes that are not UTF-8 there): `%ED%A0%80`, which no percent-decoder turns into text.
            at = draw(st.integers(0, len(text)))
            value = text[:at].encode() + _surrogate_utf8(draw(st.integers(0xD800, 0xDFFF))) + text[at:].encode()
            query = {key: item for key, item in case.query.items() if key != name}
            query[RAW_QUERY_STRING_KEY] = RawQueryString(f"{quote_plus(name)}={quote_plus(value)}")
            case.query = query
    elif target == "path":
        name = draw(st.sampled_from(path_names))
        # Path parameters are percent-encoded already; what is added here is sent as written.
        inserted = "%00" if draw(st.booleans()) else quote(_surrogate_utf8(draw(st.integers(0xD800, 0xDFFF))))
        value = case.path_parameters[name]
        poisoned = value + inserted if draw(st.booleans()) else inserted + value
        case.path_parameters = {**case.path_parameters, name: poisoned}
    else:
        name = draw(st.sampled_from(header_names))
        text = case.headers[name]
        at = draw(st.integers(0, len(text)))
        # A header's text goes out as Latin-1: each of these characters is one byte of the sequence.
        raw = _surrogate_utf8(draw(st.integers(0xD800, 0xDFFF))).decode("latin-1")
        case.headers[name] = text[:at] + raw + text[at:]
    return case


@schemathesis.hook
def flatmap_case(context: Any, case: Any) -> Any:
    return _poisoned_case(case)


# ---------------------------------------------------------------------------------------------------------------
# What went on the wire

_SURROGATE_PERCENT = re.compile(r"%ED%[AB][0-9A-F]%[89AB][0-9A-F]", re.IGNORECASE)
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")


def _ill_formed_json(value: Any) -> str | None:
    """Like api/common.ts `findIllFormed`: what the edge refuses in a parsed JSON value, if anything."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    found = None
    while stack:
        node, depth = stack.pop()
        strings: list[str] = []
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, (dict, list)):
            if depth >= MAX_DEPTH:
                return "deep"
            children = node.values() if isinstance(node, dict) else node
            if isinstance(node, dict):
                strings.extend(node.keys())
            stack.extend((child, depth + 1) for child in children)
        for text in strings:
            if "\x00" in text:
                found = found or "nul"
            elif any(0xD800 <= ord(char) <= 0xDFFF for char in text):
                found = found or "surrogate"
    return found


def wire_poison(request: Any) -> list[str]:
    """Poison a sent request carried, as `part.kind` (`body.surrogate`, `query.nul`, …)."""
    found = []
    body = request.body
    content_type = request.headers.get("Content-Type", "")
    if body and "json" in content_type:
        try:
            # Python's decoder keeps lone surrogates from `\\udXXX` escapes, like JSON.parse does.
            kind = _ill_formed_json(json.loads(body))
        except RecursionError:
            # Nested deeper than Python's decoder goes (about 1000 levels): far deeper than the edge allows.
            kind = "deep"
        except ValueError:
            kind = None
        if kind:
            found.append(f"body.{kind}")
    parts = urlsplit(request.url)
    for part, text in (("path", parts.path), ("query", parts.query)):
        if "%00" in text:
            found.append(f"{part}.nul")
        if _SURROGATE_PERCENT.search(text):
            found.append(f"{part}.surrogate")
    for name, value in request.headers.items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1", "replace")
        if _SURROGATE_BYTES.search(raw):
            found.append("header.surrogate")
    return found


def _declared_nul(case: Any, request: Any) -> bool:
    """NUL in a path parameter or a declared query parameter: what the route's validator must refuse."""
    parts = urlsplit(request.url)
    if "%00" in parts.path:
        return True
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if "%00" in value and unquote_to_bytes(name).decode("utf-8", "replace") in case.operation.query:
            return True
    return False


counts: Counter[str] = Counter()
answers: Counter[str] = Counter()
refusals: Counter[str] = Counter()
slowest = {"seconds": 0.0, "request": ""}

# The messages of api/common.ts `findIllFormed`, by the poison each names.
_EDGE_MESSAGES = {"well-formed Unicode": "surrogate", "NUL character": "nul", "must not nest deeper": "deep"}


def _refusal(response: Any) -> str:
    """Why a 422 refused the request: the edge check's reason, or `schema` for any other validation."""
    try:
        errors = json.loads(response.content).get("errors") or []
    except (ValueError, AttributeError):
        return "unreadable"
    for error in errors:
        for text, reason in _EDGE_MESSAGES.items():
            if text in str(error.get("message", "")):
                return reason
    return "schema"


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    request = response.request
    counts["requests"] += 1
    if response.elapsed > slowest["seconds"]:
        slowest.update(seconds=response.elapsed, request=f"{request.method} {urlsplit(request.url).path}")
    found = wire_poison(request)
    if not found:
        return
    counts["poison"] += 1
    counts.update(found)
    answers[str(response.status_code)] += 1
    if response.status_code == 422:
        refusals[_refusal(response)] += 1


@schemathesis.check
def poison_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request carrying poison the edge must refuse is not answered with success."""
    if not 200 <= response.status_code < 300:
        return None
    request = response.request
    found = wire_poison(request)
    if any(kind.startswith("body.") for kind in found) or _declared_nul(case, request):
        raise AssertionError(f"Poison accepted with {response.status_code}: {', '.join(found) or 'NUL in a parameter'}")
    return None


def _report() -> None:
    summary = {
        "requests": counts["requests"],
        "poison": counts["poison"],
        "kinds": {key: value for key, value in sorted(counts.items()) if "." in key},
        "answers": dict(sorted(answers.items())),
        "refusals": dict(sorted(refusals.items())),
        "slowest": slowest,
    }
    with open(REPORT, "w") as file:
        json.dump(summary, file)


atexit.register(_report)
