"""The docs cannot drift from the code: the CLI reference is generated, every command and
every setting is documented, and the README's quick start stays copy-pasteable."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from productops.core.settings import Settings, sections

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
SETTINGS_DOC = ROOT / "docs" / "settings.md"
README = ROOT / "README.md"
FENCED_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _load_generator() -> ModuleType:
    # scripts/ is not a package: load the generator by its path.
    path = ROOT / "scripts" / "gen_cli_docs.py"
    spec = importlib.util.spec_from_file_location("gen_cli_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_cli_docs() -> ModuleType:
    return _load_generator()


def test_cli_reference_is_generated_from_the_current_cli(gen_cli_docs: ModuleType) -> None:
    assert CLI_DOC.read_text() == gen_cli_docs.render(), (
        "docs/cli.md is stale: run .venv/bin/python scripts/gen_cli_docs.py"
    )


def test_cli_reference_renders_the_same_twice(gen_cli_docs: ModuleType) -> None:
    assert gen_cli_docs.render() == gen_cli_docs.render()


def test_every_cli_command_has_a_heading(gen_cli_docs: ModuleType) -> None:
    headings = set(re.findall(r"^## (.+)$", CLI_DOC.read_text(), re.MULTILINE))
    paths = gen_cli_docs.command_paths()
    assert {"productops", "productops user create", "productops jobs run"} <= set(paths)
    missing = [p for p in paths if p not in headings]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    text = SETTINGS_DOC.read_text()
    assert f"`{field}`" in text, f"docs/settings.md does not document `{field}`"
    env_var = f"PRODUCTOPS_{field.upper()}"
    assert f"`{env_var}`" in text, f"docs/settings.md does not name `{env_var}`"


def _section_fields() -> list[str]:
    return [f"{name}.{field}" for name, model in sections().items() for field in model.model_fields]


@pytest.mark.parametrize("key", _section_fields())
def test_every_pillar_setting_is_documented(key: str) -> None:
    text = SETTINGS_DOC.read_text()
    section, _, field = key.partition(".")
    assert f"`[{section}]` `{field}`" in text, f"docs/settings.md does not document {key}"
    env_var = f"PRODUCTOPS_{section.upper()}__{field.upper()}"
    assert f"`{env_var}`" in text, f"docs/settings.md does not name `{env_var}`"


def test_readme_quick_start_commands_are_single_lines() -> None:
    blocks = FENCED_BLOCK.findall(README.read_text()) if README.exists() else []
    if len(blocks) < 2:
        pytest.skip(f"README.md has {len(blocks)} fenced code block(s); the test needs two")
    for number, block in enumerate(blocks[:2], 1):
        lines = [line for line in block.splitlines() if line.strip()]
        assert len(lines) == 1, f"README code block {number} is not a single line: {block!r}"
