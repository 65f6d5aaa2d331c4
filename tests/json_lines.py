"""Reading log lines as a log pipeline would."""

import json


def strict_json(line: str) -> dict:
    """`line` parsed as RFC 8259 JSON, which has no NaN or Infinity."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)
