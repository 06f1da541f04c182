#!/usr/bin/python3
"""Parses every SVG in a directory with an XML parser: the flame graphs must be well-formed.

    check_svg.py SVG_DIR
"""
import pathlib
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.svg"))
    if not files:
        print(f"no SVG files in {sys.argv[1]}: the tests that write them did not run")
        return 1
    failed = 0
    for f in files:
        try:
            root = ET.parse(f).getroot()
            rects = len(root.findall(".//{http://www.w3.org/2000/svg}rect"))
            print(f"ok   {f.name}: {rects} rects")
        except ET.ParseError as e:
            print(f"FAIL {f.name}: {e}")
            failed += 1
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
