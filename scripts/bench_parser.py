"""Benchmark the coder-answer parser on pathological megabyte inputs; prints JSON.

The baseline, measured in the same run on the same text, is one linear regex pass over it (`re.findall("<", text)`):
the parser should stay within a small multiple of reading its input once.

    python scripts/bench_parser.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import time

from webgen.agent.actions import parse_response


@functools.cache
def megabyte_inputs() -> dict[str, str]:
    """About a megabyte each, built to hit the parser's worst paths (also used by the property tests)."""
    file = '<boltAction type="file" filePath="src/f{i}.tsx">\n' + "x" * 1000 + "\n</div>\n</boltAction>"
    return {
        "many-files": '<boltArtifact id="s">' + "".join(file.format(i=i) for i in range(1000)) + "</boltArtifact>",
        "open-tags": "<boltAction " * 100_000,
        "open-quotes": '<boltAction a="' * 60_000,
        "think": "<think>" * 150_000,
        "think-close": "</think>" * 120_000,
        "fences": "```\n" * 250_000,
        "fence-spaces": "``` " + " " * 1_000_000 + "`",
        "entities": "&lt;" * 250_000,
        "lt-body": '<boltAction type="file" filePath="a.ts">' + "<" * 1_000_000,
        "labels": "**a.ts**\n```ts a.ts\n" * 60_000,
        "plain": "x" * 1_000_000,
        "repetition": "<boltArtifact>" + "const a = useState(0); // again\n" * 32_000,
    }


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for name, text in megabyte_inputs().items():
        parse_s = _time(lambda text=text: parse_response(text), args.repeat)
        base_s = _time(lambda text=text: re.findall("<", text), args.repeat)
        results[name] = {"chars": len(text), "parse_s": round(parse_s, 4), "baseline_s": round(base_s, 4)}
    worst = max(results.values(), key=lambda r: r["parse_s"])
    print(json.dumps({"inputs": results, "worst_parse_s": worst["parse_s"], "target_s": 1.0}, indent=2))


if __name__ == "__main__":
    main()
