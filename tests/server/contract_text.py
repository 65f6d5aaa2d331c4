"""The contract's own words: the comments of protos/ as an integrator reads them."""

from pathlib import Path

CONTRACT = Path(__file__).resolve().parents[2] / "protos" / "patchcore" / "edge" / "v1" / "inspection.proto"


def comment_above(text: str, declaration: str) -> str:
    """The // comment lines right above the first line of text that holds declaration, joined by spaces."""
    lines = text.split(declaration, 1)[0].splitlines()[:-1]  # [-1]: the declaration's own indent
    comment = []
    for line in reversed(lines):
        if not line.strip().startswith("//"):
            break
        comment.insert(0, line.strip().removeprefix("//").strip())
    return " ".join(comment)
