"""`webgen ui --demo`: the UI against the scripted model server, with replies that fit any request.

The coder answers the last section of the conversation: a first draft that does not build (so the repair
step shows), then a generic two-page site, a request for the GUI test, and a finish; a follow-up message
gets a variant with a contact page. The judge scores 4 and the GUI agent says yes.
Real builds, real Chromium, a real store: only the model replies are scripted.
"""

from __future__ import annotations

from typing import Any

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.settings import ModelEndpoint, Settings

_OPEN = '<boltArtifact id="site" title="Site"><boltAction type="file" filePath="src/App.tsx">\n'
_CLOSE = "</boltAction></boltArtifact>"

FIRST_HEADING, NEXT_HEADING = "Welcome to your new site", "Welcome back"
_LAST = r"(?!.*(?:Build: |GUI agent: |starting point now))"
_FINISH = 'The functional test is done and the pages look right.\n<boltAction type="finish"/>'
_VALIDATED = 'The site builds and looks complete. Testing it now.\n<boltAction type="screenshot_validated"/>'
BROKEN = _OPEN + "export default function App() {\n  return <main>draft</div>;\n}\n" + _CLOSE


def _site(heading: str, extra_route: bool) -> str:
    contact = (
        '        <Route path="/contact" element={<Page title="Contact us" text="Write to us any time: '
        'hello@example.com." />} />\n'
        if extra_route
        else ""
    )
    contact_link = '          <Link to="/contact" className="hover:underline">Contact</Link>\n' if extra_route else ""
    return (
        _OPEN + 'import { Routes, Route, Link } from "react-router-dom";\n\n'
        "function Page({ title, text }: { title: string; text: string }) {\n"
        "  return (\n"
        '    <main className="mx-auto max-w-3xl p-10">\n'
        '      <h1 className="text-4xl font-bold text-indigo-900">{title}</h1>\n'
        '      <p className="mt-4 text-lg text-slate-600">{text}</p>\n'
        '      <button className="mt-8 rounded-full bg-indigo-600 px-6 py-2 text-white">Get started</button>\n'
        "    </main>\n"
        "  );\n"
        "}\n\n"
        "export default function App() {\n"
        "  return (\n"
        '    <div className="min-h-screen bg-gradient-to-b from-indigo-50 to-white">\n'
        '      <nav className="flex gap-6 border-b bg-white p-4 font-semibold text-indigo-800">\n'
        '          <Link to="/" className="hover:underline">Home</Link>\n'
        '          <Link to="/about" className="hover:underline">About</Link>\n' + contact_link + "      </nav>\n"
        "      <Routes>\n"
        f'        <Route path="/" element={{<Page title="{heading}" text="Everything you asked for, '
        'on one tidy page." />} />\n'
        '        <Route path="/about" element={<Page title="About us" text="A small team that cares '
        'about the details." />} />\n' + contact + "      </Routes>\n"
        "    </div>\n"
        "  );\n"
        "}\n" + _CLOSE
    )


def demo_rules() -> list[dict[str, Any]]:
    judged = {
        "has_error": False,
        "description": "A clean indigo site with a navigation bar, a large heading and a call to action.",
        "suggestions": "Add a picture or an illustration to the hero.",
        "score": 4,
    }
    return [
        # The coder answers the conversation's last section (nothing of another kind comes after its marker).
        {"model": "coder", "match": r"GUI agent: YES" + _LAST, "times": -1, "reply": _FINISH},
        {"model": "coder", "match": r"GUI agent: " + _LAST, "times": -1, "reply": _FINISH},
        {"model": "coder", "match": r"Build: succeeded" + _LAST, "times": -1, "reply": _VALIDATED},
        {"model": "coder", "match": r"Build: FAILED" + _LAST, "times": -1, "reply": _site(FIRST_HEADING, False)},
        {"model": "coder", "match": r"starting point now" + _LAST, "times": -1, "reply": _site(NEXT_HEADING, True)},
        {"model": "coder", "times": -1, "reply": BROKEN},
        {
            "model": "judge",
            "match": "Write the instruction it will follow",
            "times": -1,
            "reply": "<test>Open every page from the navigation bar and press the main button.</test>",
        },
        {
            "model": "judge",
            "match": "Read the agent's log",
            "times": -1,
            "reply": 'Every page opened. {"test_passed": true, "improvement_suggestions": "", "grade": 5}',
        },
        {"model": "judge", "match": "You are a front-end reviewer", "times": -1, "reply": {"content": judged}},
        {"model": "gui", "times": -1, "reply": "Thought: The pages open and the button works.\nAction: ANSWER; YES"},
    ]


def demo_settings(settings: Settings, server: FakeLLMServer) -> Settings:
    """`settings` with every role pointed at the scripted server and short GUI waits."""
    endpoints = {
        role: ModelEndpoint(base_url=server.base_url, model=role, timeout_s=30, max_retries=1)
        for role in ("coder", "judge", "gui")
    }
    waits = {"click": 0.3, "type": 0.3, "scroll": 0.3, "wait": 0.3, "goback": 0.3}
    return settings.model_copy(update={**endpoints, "agent": settings.agent.model_copy(update={"gui_waits": waits})})
