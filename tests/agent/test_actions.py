"""Tests for the coder-answer parser in ``webgen.agent.actions``."""

from __future__ import annotations

import pytest

from webgen.agent.actions import (
    CommandAction,
    FileAction,
    ParsedResponse,
    has_exact_think_answer_format,
    parse_response,
)

APP = 'export default function App() {\n  return <div className="a">hi</div>;\n}\n'


def bolt(*actions: str, tag: str = "bolt") -> str:
    inner = "\n".join(actions)
    return f'<{tag}Artifact id="proj" title="My Site">\n{inner}\n</{tag}Artifact>'


def file_action(path: str, body: str, tag: str = "bolt") -> str:
    return f'<{tag}Action type="file" filePath="{path}">\n{body}</{tag}Action>'


# --- dialects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["bolt", "web"])
def test_dialects_files_and_commands(tag: str) -> None:
    text = "Sure!\n" + bolt(
        file_action("src/App.tsx", APP, tag),
        f'<{tag}Action type="shell">npm install</{tag}Action>',
        f'<{tag}Action type="start">\n  npm run dev\n</{tag}Action>',
        tag=tag,
    )
    r = parse_response(text)
    assert r.dialect == tag
    assert r.files == [FileAction(path="src/App.tsx", content=APP)]
    assert r.commands == [
        CommandAction(kind="shell", command="npm install"),
        CommandAction(kind="start", command="npm run dev"),
    ]
    assert (r.artifact_id, r.artifact_title) == ("proj", "My Site")
    assert r.kind == "edit"
    assert r.problems == []
    assert r.truncated == []
    assert r.thinking is None


def test_body_kept_verbatim_with_indentation_and_closing_html_tags() -> None:
    body = "    indented first line\n</div></span>\n\ttab\n"
    r = parse_response(bolt(file_action("a.html", body).replace("</boltAction>", "  </boltAction>")))
    assert r.files[0].content == body


def test_body_without_newlines() -> None:
    r = parse_response('<boltAction type="file" filePath="a.txt">x = 1</boltAction>')
    assert r.files[0].content == "x = 1"


@pytest.mark.parametrize(
    "open_tag",
    [
        '<boltAction filePath="src/App.tsx" type="file">',
        "<boltAction type='file' filePath='src/App.tsx'>",
        '<boltAction\n    type = "file"\n    filePath="src/App.tsx"\n    data-extra="1" >',
        '<BoltAction TYPE="file" FILEPATH="src/App.tsx">',
        '<boltAction type="file" filepath="src/App.tsx">',
        '<boltAction type="file" file_path="src/App.tsx">',
        '<boltAction type="file" path="./src/App.tsx">',
        '<boltAction type="file" filePath=" src\\App.tsx ">',
        '<boltAction type="file" filePath=src/App.tsx>',
        '<boltAction title="a > b" type="file" filePath="src/App.tsx">',
        '<boltAction filePath="src/App.tsx">',
    ],
)
def test_attribute_variants(open_tag: str) -> None:
    r = parse_response(f"{open_tag}\n{APP}</boltAction>")
    assert r.final_files() == {"src/App.tsx": APP}


def test_attribute_values_are_unescaped() -> None:
    r = parse_response(
        '<boltArtifact id="x&amp;y" title="Tom &amp; Jerry &quot;site&quot;">'
        '<boltAction type="file" filePath="src/a&amp;b.ts">1</boltAction></boltArtifact>'
    )
    assert r.artifact_title == 'Tom & Jerry "site"'
    assert r.artifact_id == "x&y"
    assert r.files[0].path == "src/a&b.ts"


# --- entities -------------------------------------------------------------------------------------


def test_entity_escaped_body_is_unescaped() -> None:
    escaped = "const f = () =&gt; 1;\nexport const A = () =&gt; &lt;div&gt;a &amp;&amp; b&lt;/div&gt;;\n"
    r = parse_response(file_action("a.tsx", escaped))
    assert r.files[0].content == "const f = () => 1;\nexport const A = () => <div>a && b</div>;\n"


@pytest.mark.parametrize(
    "body",
    [
        "const s = '&lt;' + '<b>';\n",  # raw '<' present: real code
        "const esc = (s) => s.replace(/&/g, '&amp;');\n",  # bare '&': real code
        "if (a && b) { x = '&lt;'; }\n",
        "plain text & more\n",
    ],
)
def test_raw_body_is_not_unescaped(body: str) -> None:
    assert parse_response(file_action("a.js", body)).files[0].content == body


def test_escaped_command_is_unescaped() -> None:
    r = parse_response('<boltAction type="shell">npm i &amp;&amp; npm run build</boltAction>')
    assert r.commands == [CommandAction(kind="shell", command="npm i && npm run build")]


# --- wrappers -------------------------------------------------------------------------------------


def test_fenced_artifact_and_answer_wrapper() -> None:
    text = "<answer>\n```xml\n" + bolt(file_action("index.html", "<html></html>\n")) + "\n```\n</answer>"
    r = parse_response(text)
    assert r.dialect == "bolt"
    assert r.final_files() == {"index.html": "<html></html>\n"}


def test_think_block_actions_are_ignored() -> None:
    draft = file_action("draft.ts", "nope\n") + '<boltAction type="finish"/>'
    answer = bolt(file_action("real.ts", "yes\n"))
    text = f"<think>Let me draft:\n{draft}\n</think>\n<answer>{answer}</answer>"
    r = parse_response(text)
    assert r.final_files() == {"real.ts": "yes\n"}
    assert not r.finish
    assert r.thinking is not None
    assert "draft.ts" in r.thinking


def test_unclosed_think_means_everything_is_thinking() -> None:
    r = parse_response("<think>I will write\n" + bolt(file_action("a.ts", "x\n")))
    assert r.files == []
    assert r.dialect == "none"
    assert r.kind == "invalid"
    assert r.thinking is not None
    assert any("unclosed <think>" in p for p in r.problems)


def test_prefilled_think_without_opening_tag() -> None:
    r = parse_response("thinking " + file_action("draft.ts", "no\n") + "</think>" + file_action("b.ts", "ok\n"))
    assert r.final_files() == {"b.ts": "ok\n"}
    assert r.thinking is not None
    assert r.thinking.startswith("thinking")


def test_think_tag_inside_file_body_is_content() -> None:
    body = "const open = '<think>';\n"
    r = parse_response(file_action("a.ts", body) + file_action("b.ts", "b\n"))
    assert r.final_files() == {"a.ts": body, "b.ts": "b\n"}
    assert r.thinking is None


# --- markers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marker",
    [
        '<boltAction type="finish"/>',
        '<boltAction type="finish" />',
        "<boltAction type='finish'/>",
        '<boltAction type="finish"></boltAction>',
        '<boltAction type="finish">\n</boltAction>',
        '<webAction type="finish"/>',
        "<boltAction type=finish/>",
        '<boltAction type="finish">',
    ],
)
def test_finish_marker_forms(marker: str) -> None:
    r = parse_response(f"Done.\n{marker}\n")
    assert r.finish
    assert not r.screenshot_validated
    assert r.kind == "finish"


@pytest.mark.parametrize(
    "marker",
    [
        '<boltAction type="screenshot_validated"/>',
        '<boltAction type="screenshot_validated" />',
        "<boltAction type='screenshot_validated'/>",
        '<boltAction type="screenshot_validated"></boltAction>',
        '<webAction type="screenshot_validated" />',
    ],
)
def test_screenshot_marker_forms(marker: str) -> None:
    r = parse_response(bolt(file_action("a.ts", "1\n"), marker))
    assert r.screenshot_validated
    assert not r.finish
    assert r.kind == "gui_request"
    assert r.files


def test_finish_and_screenshot_together() -> None:
    r = parse_response('<boltAction type="screenshot_validated"/><boltAction type="finish"/>')
    assert r.finish
    assert r.screenshot_validated
    assert r.kind == "finish"


# --- truncation, duplicates, unknown types -------------------------------------------------------


def test_truncated_mid_file() -> None:
    text = bolt(file_action("a.ts", "complete\n"))[: -len("</boltArtifact>")]
    text += '\n<boltAction type="file" filePath="src/b.ts">\nconst x = <div>half'
    r = parse_response(text)
    assert r.final_files() == {"a.ts": "complete\n"}
    assert r.truncated == ["src/b.ts"]
    assert any("src/b.ts" in p for p in r.problems)


def test_opening_tag_inside_a_file_body_is_content() -> None:
    """bolt's rule: only the closing action tag ends a body, so an opening tag inside it is text."""
    text = '<boltAction type="file" filePath="a.ts">\nno end\n' + file_action("b.ts", "b\n")
    r = parse_response(text)
    assert r.truncated == []
    assert list(r.final_files()) == ["a.ts"]
    assert '<boltAction type="file" filePath="b.ts">' in r.final_files()["a.ts"]


def test_artifact_end_inside_a_file_body_is_content_and_no_closing_tag_truncates() -> None:
    r = parse_response('<boltArtifact><boltAction type="file" filePath="a.ts">\nx\n</boltArtifact>')
    assert r.truncated == ["a.ts"]
    assert r.files == []
    assert r.kind == "invalid"
    closed = parse_response('<boltArtifact><boltAction type="file" filePath="a.ts">\nx</boltArtifact>\n</boltAction>')
    assert closed.final_files() == {"a.ts": "x</boltArtifact>\n"}


def test_truncated_inside_opening_tag() -> None:
    r = parse_response(file_action("a.ts", "a\n") + '<boltAction type="file" filePath="b.ts" ')
    assert r.final_files() == {"a.ts": "a\n"}
    assert r.truncated == ["b.ts"]


def test_duplicate_paths_kept_in_order_last_wins() -> None:
    r = parse_response(bolt(file_action("a.ts", "1\n"), file_action("b.ts", "b\n"), file_action("./a.ts", "2\n")))
    assert [(f.path, f.content) for f in r.files] == [("a.ts", "1\n"), ("b.ts", "b\n"), ("a.ts", "2\n")]
    assert r.final_files() == {"a.ts": "2\n", "b.ts": "b\n"}


def test_unknown_type_noted_and_ignored() -> None:
    r = parse_response(bolt('<boltAction type="supabase">create table x;</boltAction>', file_action("a.ts", "a\n")))
    assert r.final_files() == {"a.ts": "a\n"}
    assert any("supabase" in p for p in r.problems)


def test_unsafe_paths_pass_through() -> None:
    r = parse_response(file_action("../../etc/passwd", "x\n") + file_action("/abs/p.ts", "y\n"))
    assert [f.path for f in r.files] == ["../../etc/passwd", "/abs/p.ts"]


def test_missing_path_and_empty_command_noted() -> None:
    r = parse_response('<boltAction type="file">x</boltAction><boltAction type="shell">  </boltAction>')
    assert r.files == []
    assert r.commands == []
    assert len(r.problems) >= 2


# --- nested fences --------------------------------------------------------------------------------


def test_fence_inside_action_body_is_unwrapped() -> None:
    r = parse_response(file_action("src/App.tsx", "```tsx\n" + APP + "```\n"))
    assert r.files[0].content == APP


def test_markdown_with_several_fences_is_not_unwrapped() -> None:
    body = "```bash\nnpm i\n```\n\nText\n\n```js\nx()\n```\n"
    assert parse_response(file_action("README.md", body)).files[0].content == body


def test_fenced_shell_command_is_unwrapped() -> None:
    r = parse_response('<boltAction type="shell">\n```bash\nnpm install\n```\n</boltAction>')
    assert r.commands == [CommandAction(kind="shell", command="npm install")]


# --- fenced fallback ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        "```tsx src/App.tsx\n{code}```",
        '```tsx title="src/App.tsx"\n{code}```',
        "```tsx:src/App.tsx\n{code}```",
        "**src/App.tsx**\n```tsx\n{code}```",
        "`src/App.tsx`\n\n```tsx\n{code}```",
        "// File: src/App.tsx\n```tsx\n{code}```",
        "File: src/App.tsx\n```\n{code}```",
        "### src/App.tsx\n```tsx\n{code}```",
        "**File:** `./src/App.tsx`\n```tsx\n{code}```",
    ],
)
def test_fenced_fallback_path_forms(block: str) -> None:
    r = parse_response("Here you go:\n\n" + block.format(code=APP) + "\n\nEnjoy!")
    assert r.dialect == "fenced"
    assert r.final_files() == {"src/App.tsx": APP}


@pytest.mark.parametrize(
    "text",
    [
        "```tsx\nconst a = 1;\n```",
        "Here is the code for src/App.tsx:\n```tsx\nx\n```",
        "```python 3.11\nprint()\n```",
        "**/etc/passwd**\n```\nx\n```",
    ],
)
def test_fenced_fallback_is_conservative(text: str) -> None:
    r = parse_response(text)
    assert r.files == []
    assert r.dialect == "none"


def test_fenced_fallback_not_used_when_tags_present() -> None:
    r = parse_response("```ts a.ts\nx\n```\n" + file_action("b.ts", "b\n"))
    assert r.final_files() == {"b.ts": "b\n"}
    assert r.dialect == "bolt"


def test_fenced_fallback_truncated() -> None:
    r = parse_response("```ts a.ts\nfine\n```\n```ts b.ts\nhalf")
    assert r.final_files() == {"a.ts": "fine\n"}
    assert r.truncated == ["b.ts"]


def test_fenced_fallback_ignores_fences_in_thinking() -> None:
    r = parse_response("<think>```ts a.ts\nx\n```</think>no code")
    assert r.files == []
    assert r.kind == "invalid"


def test_empty_input() -> None:
    r = parse_response("")
    assert r == ParsedResponse(dialect="none", problems=r.problems)
    assert r.kind == "invalid"


# --- think/answer format ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>a</think><answer>b</answer>", True),
        ("\n <think>\nplan\n</think>\n\n<answer>\n<boltArtifact/>\n</answer>\n", True),
        ("<think></think><answer></answer>", True),
        ("x<think>a</think><answer>b</answer>", False),
        ("<think>a</think>x<answer>b</answer>", False),
        ("<think>a</think><answer>b</answer>x", False),
        ("<answer>b</answer><think>a</think>", False),
        ("<think>a</think><answer>b</answer><answer>c</answer>", False),
        ("<think>a<think>b</think><answer>c</answer>", False),
        ("<think>a</think>", False),
        ("<answer>b</answer>", False),
        ("<think>a<answer>b</answer>", False),
        ("", False),
    ],
)
def test_has_exact_think_answer_format(text: str, expected: bool) -> None:
    assert has_exact_think_answer_format(text) is expected


def test_problems_are_capped() -> None:
    r = parse_response("".join(f'<boltAction type="kind{i}">x</boltAction>' for i in range(100)))
    assert len(r.problems) == 20
    assert r.problems[-1].startswith("... and")


def test_commands_only_is_empty_kind_and_mixed_dialect_noted() -> None:
    r = parse_response('<boltAction type="shell">ls</boltAction><webAction type="shell">pwd</webAction>')
    assert [c.command for c in r.commands] == ["ls", "pwd"]
    assert r.kind == "invalid"
    assert r.dialect == "bolt"
    assert any("mixed" in p for p in r.problems)
