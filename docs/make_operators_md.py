#!/usr/bin/env python3
"""Write docs/operators.md from the code (aotgen/compiler/coverage.py): which TFLite and ONNX
operators aotgen compiles, float32 and int8. Run it after adding an operator; with --check it
only says whether the file is current (exit 1 if not)."""

import sys
from pathlib import Path

from aotgen.compiler.coverage import operators_markdown

DOC = Path(__file__).resolve().parent / "operators.md"


def main() -> int:
    text = operators_markdown()
    if "--check" in sys.argv[1:]:
        current = DOC.is_file() and DOC.read_text() == text
        print(f"{DOC} is {'current' if current else 'out of date: run python docs/make_operators_md.py'}")
        return 0 if current else 1
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
