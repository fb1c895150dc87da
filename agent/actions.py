"""Parse the coder model's free-text answer into typed file actions, commands and markers.

The input is untrusted LLM output: :func:`parse_response` never raises and reports oddities in
``ParsedResponse.problems``, phrased so they can be fed back to the model.

Dialects: ``bolt`` (``<boltArtifact>`` / ``<boltAction type="file|shell|start">``), ``web`` (the same
with ``<webArtifact>`` / ``<webAction>``) and, only when no artifact/action tag is present at all,
``fenced``: code fences naming a relative path with an extension in the info string (```` ```tsx a.tsx ````,
``title="a.tsx"``, ``tsx:a.tsx``) or on the line before (``**a.tsx**``, ```` `a.tsx` ````, ``// File: a.tsx``).
Markers ``type="screenshot_validated"`` / ``type="finish"`` set booleans; their body is ignored.

Rules:

* ``<think>`` blocks are skipped (drafted tags are not actions) and collected in ``thinking``; an
  unclosed ``<think>`` makes the rest thinking; a ``</think>`` before any ``<think>`` (templates that
  pre-fill the opening tag) makes everything before it thinking.  Think tags inside bodies are content.
* As in bolt's own parser, only a closing action tag (``</boltAction>``/``</webAction>``) ends a file or
  command body: text inside it that looks like an opening tag (or ``</boltArtifact>``) is content, and a
  file containing the closing literal is cut there (undetectable).  A body with no closing tag before
  the end of text is *truncated*: listed in ``truncated``, not written.  Marker actions written with an
  open tag end at the next tag of any kind.
* A reply is *repetitive* when it loops (:func:`is_repetitive`, the published agent's rule on its last
  30,000 characters); such a reply, or one with nothing usable, has kind ``invalid``.
* File bodies lose one leading newline and a whitespace-only last line (the closing tag's indentation,
  keeping the newline before it); otherwise verbatim.  A body that is one code fence is unwrapped.
* Entities: attribute values are always ``html.unescape``d.  A body is unescaped only if it contains
  one of ``&lt; &gt; &amp; &quot; &apos; &#39; &#x27;``, no raw ``<``, and every ``&`` starts a
  well-formed character reference (escaped text has no bare ``&``; real code usually has ``&&`` or ``<``).
* Paths are trimmed, ``\\`` becomes ``/`` and a leading ``./`` is dropped; unsafe paths pass through
  (the workspace rejects them).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from webgen.agent.repetition import is_repetitive
from webgen.core.kinds import StepKind
from webgen.core.text import safe_text

__all__ = [
    "CommandAction",
    "FileAction",
    "ParsedResponse",
    "has_exact_think_answer_format",
    "is_repetitive",
    "parse_response",
]


class FileAction(BaseModel):
    """Write ``content`` to ``path`` (relative to the project root)."""

    model_config = ConfigDict(frozen=True)
    path: str
    content: str


class CommandAction(BaseModel):
    """A shell command (``shell``) or the dev-server start command (``start``)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["shell", "start"]
    command: str


class ParsedResponse(BaseModel):
    """Everything :func:`parse_response` extracted from one model answer."""

    model_config = ConfigDict(frozen=True)
    dialect: Literal["bolt", "web", "fenced", "none"] = "none"
    files: list[FileAction] = Field(default_factory=list)
    commands: list[CommandAction] = Field(default_factory=list)
    screenshot_validated: bool = False
    finish: bool = False
    truncated: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    thinking: str | None = None
    artifact_title: str | None = None
    artifact_id: str | None = None
    repetitive: bool = False

    def final_files(self) -> dict[str, str]:
        """Path -> content after applying ``files`` in order (last write wins)."""
        return {f.path: f.content for f in self.files}

    @property
    def kind(self) -> StepKind:
        """``invalid`` for a looping reply; else ``finish`` beats ``gui_request`` (screenshot validated) beats
        ``edit`` (any file written) beats ``invalid`` (nothing usable)."""
        if self.repetitive:
            return "invalid"
        if self.finish:
            return "finish"
        if self.screenshot_validated:
            return "gui_request"
        return "edit" if self.files else "invalid"

    def summary(self) -> dict[str, object]:
        """What the reply did, without file contents (what the loop keeps and stores)."""
        data = self.model_dump(exclude={"files", "thinking"})
        return {**data, "kind": self.kind, "files": [{"path": f.path, "chars": len(f.content)} for f in self.files]}


_SCAN_RE = re.compile(r"<(/?)(?:(bolt|web)(artifact|action)(?![\w-])|(think)\s*>)", re.IGNORECASE)
_TAG_RE = re.compile(r"<(/?)(bolt|web)(artifact|action)(?![\w-])", re.IGNORECASE)
_THINK_OPEN_RE = re.compile(r"<think\s*>", re.IGNORECASE)
_THINK_CLOSE_RE = re.compile(r"</think\s*>", re.IGNORECASE)
_WS_RE = re.compile(r"\s*")
_TAG_END_RE = re.compile(r"\s*>")
_ATTR_RE = re.compile(r"""([^\s=/>"'<]+)(?:\s*=\s*(?:"([^"<]*)("?)|'([^'<]*)('?)|([^\s"'<>=`]+)))?""")
_ENTITY_HINT_RE = re.compile(r"&(?:lt|gt|amp|quot|apos|#0*39|#x0*27);", re.IGNORECASE)
_BARE_AMP_RE = re.compile(r"&(?![A-Za-z][A-Za-z0-9]{0,31};|#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};)")
_FENCE_OPEN_RE = re.compile(r"[ \t]{0,3}(`{3,})([^`]*)")
_FENCE_CLOSE_RE = re.compile(r"[ \t]{0,3}(`{3,})[ \t]*")
_PATH_RE = re.compile(r"[\w@.+\-~\[\]()]+(?:/[\w@.+\-~\[\]()]+)*")
_EXT_RE = re.compile(r"\.[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*")
_INFO_ATTR_RE = re.compile(r"""(?:title|file|filename|filepath|path)\s*=\s*["']?([^"'\s]+)""", re.IGNORECASE)
_LABEL_PREFIX_RE = re.compile(r"(?:#{1,6}\s+|//+\s*|/\*+\s*|<!--\s*|[-*+]\s+)")
_LABEL_WORD_RE = re.compile(r"(?:file(?:name|path)?|path)\s*:\s*", re.IGNORECASE)
_NO_TAG = r"(?:(?!</?think>|</?answer>).)*"
_FORMAT_RE = re.compile(rf"\s*<think>{_NO_TAG}</think>\s*<answer>{_NO_TAG}</answer>\s*", re.DOTALL)
_MAX_PROBLEMS = 20
_CLOSE_ACTION_RE = re.compile(r"</(?:bolt|web)action\s*>", re.IGNORECASE)
_PATH_KEYS = ("filepath", "file_path", "path")
_MARKERS = ("screenshot_validated", "finish")


@dataclass
class _Tag:
    attrs: dict[str, str]
    end: int
    self_closing: bool = False
    complete: bool = True  # False: the text ended inside the tag
    malformed: bool = False  # a raw '<' inside the tag


@dataclass
class _State:
    text: str
    files: list[FileAction] = field(default_factory=list)
    commands: list[CommandAction] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    visible: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    dialect: str | None = None
    mixed: bool = False
    title: str | None = None
    artifact_id: str | None = None


def parse_response(text: str) -> ParsedResponse:
    """Parse one model answer; never raises."""
    try:
        return _parse(safe_text(text if isinstance(text, str) else str(text or "")))
    except Exception as exc:  # last-resort guard: the contract is "never raise"
        return ParsedResponse(problems=[f"internal parser error: {exc!r}"])


def has_exact_think_answer_format(text: str) -> bool:
    """True iff ``text`` is exactly ``<think>...</think>`` then ``<answer>...</answer>`` (outer whitespace allowed)."""
    return isinstance(text, str) and _FORMAT_RE.fullmatch(text) is not None


def _parse(text: str) -> ParsedResponse:
    st = _State(text)
    _scan(st, _leading_thinking(st))
    if st.dialect is None and "```" in text:
        _fenced_fallback(st, "".join(st.visible))
    if not (st.files or st.commands or st.flags or st.truncated):
        st.problems.append("no file actions, commands or markers were found")
    repetitive = is_repetitive(text)
    if repetitive:
        st.problems.insert(0, "your reply repeats the same text over and over (a loop), so none of it was used")
    if len(st.problems) > _MAX_PROBLEMS:
        st.problems[_MAX_PROBLEMS - 1 :] = [f"... and {len(st.problems) - _MAX_PROBLEMS + 1} more problems"]
    return ParsedResponse(
        dialect=st.dialect or "none",  # type: ignore[arg-type]
        files=st.files,
        commands=st.commands,
        screenshot_validated="screenshot_validated" in st.flags,
        finish="finish" in st.flags,
        truncated=st.truncated,
        problems=st.problems,
        thinking="\n\n".join(t.strip() for t in st.thinking) if st.thinking else None,
        artifact_title=st.title,
        artifact_id=st.artifact_id,
        repetitive=repetitive,
    )


def _leading_thinking(st: _State) -> int:
    """Handle a ``</think>`` with no ``<think>`` before it; return where scanning starts."""
    close = _THINK_CLOSE_RE.search(st.text)
    if close is None or _THINK_OPEN_RE.search(st.text, 0, close.start()):
        return 0
    st.thinking.append(st.text[: close.start()])
    return close.end()


def _scan(st: _State, pos: int) -> None:
    text = st.text
    while pos < len(text):
        m = _SCAN_RE.search(text, pos)
        if m is None:
            st.visible.append(text[pos:])
            return
        st.visible.append(text[pos : m.start()])
        if not m.group(4):
            pos = _handle_tag(st, m)
        elif m.group(1):  # stray </think>
            pos = m.end()
        else:
            close = _THINK_CLOSE_RE.search(text, m.end())
            if close is None:
                st.thinking.append(text[m.end() :])
                st.problems.append("unclosed <think> block: everything after it was treated as thinking")
                return
            st.thinking.append(text[m.end() : close.start()])
            pos = close.end()


def _parse_tag(text: str, pos: int) -> _Tag:
    """Read attributes from just after the tag name up to ``>`` or ``/>``."""
    attrs: dict[str, str] = {}
    while True:
        pos = _WS_RE.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            return _Tag(attrs, pos, complete=False)
        if text.startswith("/>", pos):
            return _Tag(attrs, pos + 2, self_closing=True)
        char = text[pos]
        if char == ">":
            return _Tag(attrs, pos + 1)
        if char == "<":
            return _Tag(attrs, pos, malformed=True)
        m = _ATTR_RE.match(text, pos)
        if m is None:  # a stray quote, '=' or '/'
            pos += 1
            continue
        name, dq, dq_end, sq, sq_end, bare = m.groups()
        pos = m.end()
        if bare is not None and bare.endswith("/") and text.startswith(">", pos):
            bare, pos = bare[:-1], pos - 1
        value = dq if dq_end else sq if sq_end else bare
        if value is not None or (dq is None and sq is None):
            attrs.setdefault(name.lower(), html.unescape(value or ""))


def _handle_tag(st: _State, m: re.Match[str]) -> int:
    """Process one artifact/action tag at ``m``; return the position to continue scanning from."""
    family, what = m.group(2).lower(), m.group(3).lower()
    if st.dialect is None:
        st.dialect = family
    elif st.dialect != family and not st.mixed:
        st.mixed = True
        st.problems.append(f"mixed tag dialects: <{family}...> tags inside a {st.dialect} response")
    if m.group(1):  # closing tag outside any body
        close = _TAG_END_RE.match(st.text, m.end())
        return close.end() if close else m.end()
    tag = _parse_tag(st.text, m.end())
    if not tag.complete:
        st.problems.append(f"the response ended inside a <{m.group(2)}{m.group(3)}> tag")
        if what == "action" and _action_type(tag.attrs) == "file" and _attr_path(tag.attrs):
            st.truncated.append(_attr_path(tag.attrs))
        return len(st.text)
    if tag.malformed:
        st.problems.append(f"malformed <{m.group(2)}{m.group(3)}> tag (a raw '<' inside the tag) was ignored")
        return tag.end
    if what == "artifact":
        if st.title is None and st.artifact_id is None:
            st.title, st.artifact_id = tag.attrs.get("title"), tag.attrs.get("id")
        return tag.end
    return _handle_action(st, tag)


def _action_type(attrs: dict[str, str]) -> str:
    raw = attrs.get("type")
    if raw is None:
        return "file" if _attr_path(attrs) else ""
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


def _attr_path(attrs: dict[str, str]) -> str:
    return _clean_path(next((attrs[k] for k in _PATH_KEYS if k in attrs), ""))


def _handle_action(st: _State, tag: _Tag) -> int:
    kind, path = _action_type(tag.attrs), _attr_path(tag.attrs)
    body: str | None = ""
    end = tag.end
    if not tag.self_closing and kind in _MARKERS:  # an open marker tag: its body ends at the next tag
        nxt = _TAG_RE.search(st.text, tag.end)
        if nxt is not None and nxt.group(1) and nxt.group(3).lower() == "action":
            close = _TAG_END_RE.match(st.text, nxt.end())
            end = close.end() if close else nxt.end()
        else:
            body, end = None, nxt.start() if nxt is not None else len(st.text)
    elif not tag.self_closing:  # only the closing action tag ends a body (bolt's rule)
        close = _CLOSE_ACTION_RE.search(st.text, tag.end)
        body, end = (st.text[tag.end : close.start()], close.end()) if close else (None, len(st.text))
    if kind in _MARKERS:
        st.flags.add(kind)
        return end if body is not None else tag.end
    if kind == "file":
        return _add_file(st, path, body, end)
    if kind in ("shell", "start"):
        if body is None:
            st.problems.append(f"{kind} action was not closed; command ignored")
            return end
        command = _maybe_unescape(_unwrap_fence(body)).strip()
        if command:
            st.commands.append(CommandAction(kind=kind, command=command))  # type: ignore[arg-type]
        else:
            st.problems.append(f"empty {kind} action ignored")
        return end
    st.problems.append(f"ignored action with unknown type {kind!r}" if kind else "ignored action without a type")
    return end


def _add_file(st: _State, path: str, body: str | None, end: int) -> int:
    if not path:
        st.problems.append("file action without a filePath ignored")
    elif body is None:
        st.truncated.append(path)
        st.problems.append(f"file {path} was cut off before its closing tag and was not written")
    else:
        st.files.append(FileAction(path=path, content=_maybe_unescape(_unwrap_fence(_trim_body(body)))))
    return end


def _trim_body(body: str) -> str:
    """Drop one leading newline and a whitespace-only last line (keeping the newline before it)."""
    return re.sub(r"\n[ \t]+\Z", "\n", body.removeprefix("\n") if body.startswith("\n") else body.removeprefix("\r\n"))


def _unwrap_fence(body: str) -> str:
    """Return the inside of ``body`` if it is exactly one fenced code block, else ``body`` unchanged."""
    stripped = body.strip()
    first, last = stripped.find("\n"), stripped.rfind("\n")
    if not stripped.startswith("```") or first < 0:
        return body
    opener = _FENCE_OPEN_RE.fullmatch(stripped[:first].rstrip("\r"))
    closer = _FENCE_CLOSE_RE.fullmatch(stripped[last + 1 :])
    if opener is None or closer is None or len(closer.group(1)) < len(opener.group(1)):
        return body
    inner = stripped[first + 1 : last + 1]
    if any(line.lstrip().startswith(opener.group(1)) for line in inner.split("\n")):
        return body
    return inner


def _maybe_unescape(body: str) -> str:
    """Apply the entity rule from the module docstring."""
    if "&" not in body or "<" in body or _BARE_AMP_RE.search(body) or not _ENTITY_HINT_RE.search(body):
        return body
    return html.unescape(body)


def _looks_like_path(candidate: str) -> bool:
    """Conservative check for a relative file path with an extension (used only by the fenced fallback)."""
    if not candidate or len(candidate) > 200 or candidate.startswith("/") or not _PATH_RE.fullmatch(candidate):
        return False
    name = candidate.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return dot >= 0 and name.strip(".") != "" and _EXT_RE.fullmatch(name[dot:]) is not None


def _clean_path(raw: str) -> str:
    path = raw.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _path_from_info(info: str) -> str | None:
    info = info[:300]  # a real label is short; bounds the work on pathological lines
    m = _INFO_ATTR_RE.search(info)
    tokens = ([m.group(1)] if m else []) + [part for tok in info.split() for part in (tok, tok.split(":", 1)[-1])]
    return next((path for path in map(_clean_path, tokens) if _looks_like_path(path)), None)


def _path_from_label(line: str) -> str | None:
    """A line that is nothing but a (decorated) path: ``**a.ts**``, ```` `a.ts` ````, ``// File: a.ts``..."""
    text = line.strip()
    if len(text) > 300:
        return None
    prefix = _LABEL_PREFIX_RE.match(text)
    text = text[prefix.end() :] if prefix else text
    text = text.removesuffix("-->").removesuffix("*/")
    for _ in range(3):
        text = text.strip().strip("*_`").strip()
        word = _LABEL_WORD_RE.match(text)
        text = (text[word.end() :] if word else text).rstrip(":").strip()
    path = _clean_path(text)
    return path if _looks_like_path(path) else None


def _closes_fence(line: str, ticks: int) -> bool:
    closer = _FENCE_CLOSE_RE.fullmatch(line.rstrip("\r"))
    return closer is not None and len(closer.group(1)) >= ticks


def _fenced_fallback(st: _State, text: str) -> None:
    lines = text.split("\n")
    label: str | None = None
    unnamed = 0
    i = 0
    while i < len(lines):
        opener = _FENCE_OPEN_RE.fullmatch(lines[i].rstrip("\r"))
        if opener is None:
            label = lines[i] if lines[i].strip() else label
            i += 1
            continue
        path = _path_from_info(opener.group(2)) or (_path_from_label(label) if label is not None else None)
        ticks = len(opener.group(1))
        j = next((k for k in range(i + 1, len(lines)) if _closes_fence(lines[k], ticks)), len(lines))
        if j >= len(lines) and path:
            st.truncated.append(path)
            st.problems.append(f"file {path} was cut off before its closing code fence and was not written")
        elif path:
            st.files.append(FileAction(path=path, content="".join(line + "\n" for line in lines[i + 1 : j])))
        else:
            unnamed += 1
        label, i = None, j + 1
    if st.files or st.truncated:
        st.dialect = "fenced"
    if unnamed:
        st.problems.append(f"{unnamed} code block(s) without a file path were ignored")
