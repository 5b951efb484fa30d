"""`api-key-rotator vendors schema` (src/vendors/schema.json), JSON Schema draft 2020-12: it is a
valid schema; every catalog entry and every declaration the README shows passes it; and on the
shared samples (tests/declarations.json) it refuses exactly the declarations marked so, every one
of which the function's own validator refuses too (tests/vendors.rs), so that what the schema
refuses, the function refuses.

Run: .venv/bin/python -m pytest -q tools/test_schema.py (scripts/test does).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "src" / "vendors" / "schema.json").read_text())
SAMPLES = json.loads((ROOT / "tests" / "declarations.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
ENTRY = Draft202012Validator({"$ref": "#/$defs/entry", "$defs": SCHEMA["$defs"]})


def test_the_schema_is_a_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("entry", sorted((ROOT / "src" / "vendors" / "catalog").glob("*.json")), ids=lambda p: p.stem)
def test_every_catalog_entry_passes(entry: Path) -> None:
    errors = [e.message for e in ENTRY.iter_errors(json.loads(entry.read_text()))]
    assert not errors, errors


def readme_declarations() -> list[dict[str, Any]]:
    """The README's JSON blocks that are ROTATION_VENDORS values: every member a vendor's name
    holding a declaration or an override."""
    found = []
    for block in re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        try:
            value = json.loads(block)
        except ValueError:
            continue
        if (
            isinstance(value, dict)
            and value
            and all(re.fullmatch(r"[a-z0-9-]{1,32}", name) for name in value)
            and all(isinstance(member, dict) and (set(member) & {"auth", "rotate", "verify", "overlap", "base_url"}) for member in value.values())
        ):
            found.append(value)
    return found


def test_every_declaration_the_readme_shows_passes() -> None:
    shown = readme_declarations()
    assert len(shown) >= 5, f"the README's examples were not found: {len(shown)}"
    for declaration in shown:
        errors = [e.message for e in VALIDATOR.iter_errors(declaration)]
        assert not errors, (declaration, errors)


@pytest.mark.parametrize("name", sorted(SAMPLES["valid"]))
def test_a_valid_sample_passes(name: str) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(SAMPLES["valid"][name])]
    assert not errors, errors


@pytest.mark.parametrize("name", sorted(SAMPLES["invalid"]))
def test_the_schema_refuses_the_samples_marked_so(name: str) -> None:
    sample = SAMPLES["invalid"][name]
    refused = not VALIDATOR.is_valid(sample["vendors"])
    assert refused == sample["schema_refuses"], f"{name}: the schema {'refuses' if refused else 'accepts'} it"
