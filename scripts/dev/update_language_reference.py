#!/usr/bin/env python3
"""Regenerate the "Builtins" section of docs/language.md from the registry (help() output).

    swift build -c release && python3 scripts/dev/update_language_reference.py

Tests/AttnLangTests/DocsTests.swift fails when a builtin's signature is missing from the doc.
"""
import re, subprocess, sys

attn = sys.argv[1] if len(sys.argv) > 1 else ".build/release/attn"
overview = subprocess.run([attn], input="help()\n", capture_output=True, text=True, check=True).stdout
families, order, family = {}, [], None
for line in overview.splitlines():
    if m := re.match(r"^(\w+):$", line):
        family = m.group(1); order.append(family); families[family] = []
    elif (m := re.match(r"^  (\w+) ", line)) and family:
        families[family].append(m.group(1))
names = [n for f in order for n in families[f]]
details = subprocess.run([attn], input="".join(f"help({n})\n" for n in names), capture_output=True, text=True, check=True).stdout
blocks, current = {}, None
for line in details.splitlines():
    if not line.startswith("  "):
        current = line.split("(")[0]; blocks[current] = [line]
    else:
        blocks[current].append(line.strip())
section = []
for f in order:
    section.append(f"### {f}\n")
    section += [f"- `{blocks[n][0]}`: " + " ".join(blocks[n][1:]) for n in families[f]]
    section.append("")
path = "docs/language.md"
text = open(path).read()
start, end = text.index("### core\n"), text.index("## REPL")
open(path, "w").write(text[:start] + "\n".join(section) + "\n" + text[end:])
print(f"{len(names)} builtins documented in {path}")
