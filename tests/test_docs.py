"""The repository stands alone: every document the code, tests and examples
cite under docs/ is in the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(r"docs/[\w./-]+\.md")


def cited_documents():
    cited = {}
    for folder in ("ase_dipole", "tests", "examples", "benchmarks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".txt"} and path.is_file():
                for match in CITATION.findall(path.read_text(errors="ignore")):
                    cited.setdefault(match, path.relative_to(ROOT))
    for match in CITATION.findall((ROOT / "README.md").read_text()):
        cited.setdefault(match, "README.md")
    return cited


def test_cited_documents_exist():
    cited = cited_documents()
    assert "docs/conventions.md" in cited
    missing = {doc: str(where) for doc, where in cited.items() if not (ROOT / doc).is_file()}
    assert not missing, f"cited but not in the repository: {missing}"


def test_conventions_cover_what_the_code_relies_on():
    text = (ROOT / "docs" / "conventions.md").read_text()
    for heading in ("## Units", "## Born charges: index order", "## Exchange format: extended XYZ",
                    "## Periodicity and the polarization quantum", "## The Green–Kubo spectrum",
                    "### Sum rules", "## The harmonic limit and harmonic intensities"):
        assert heading in text
    assert "Z*[i, α, β] = ∂μ_α / ∂x_{iβ}" in text


# --- the documentation site (docs/, Sphinx + MyST) and the README as its front door ---

AUTODOC = re.compile(r"^\.\. auto(?:class|exception|function|data):: ase_dipole\.(\w+)\s*$", re.MULTILINE)
TOCTREE = re.compile(r"^```\{toctree\}\n(.*?)^```", re.MULTILINE | re.DOTALL)
ARGPARSE = re.compile(r"^```\{argparse\}\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_api_reference_documents_every_public_name_once():
    import ase_dipole

    documented = AUTODOC.findall((ROOT / "docs" / "api.md").read_text())
    twice = sorted({name for name in documented if documented.count(name) > 1})
    assert not twice, f"documented twice in docs/api.md: {twice}"
    missing = sorted(set(ase_dipole.__all__) - set(documented))
    assert not missing, f"in ase_dipole.__all__ but not in docs/api.md (add an autodoc line): {missing}"
    extra = sorted(set(documented) - set(ase_dipole.__all__))
    assert not extra, f"in docs/api.md but not in ase_dipole.__all__: {extra}"


def test_cli_reference_is_generated_from_the_full_parser():
    import argparse
    import importlib

    from ase_dipole.cli import COMMANDS

    blocks = ARGPARSE.findall((ROOT / "docs" / "cli.md").read_text())
    assert len(blocks) == 1, "docs/cli.md should hold one argparse directive for the whole parser"
    options = dict(re.findall(r"^:(\w+):\s*(.*?)\s*$", blocks[0], re.MULTILINE))
    parser = getattr(importlib.import_module(options["module"]), options["func"])()
    subparsers = next(action for action in parser._actions
                      if isinstance(action, argparse._SubParsersAction))
    assert sorted(subparsers.choices) == sorted(COMMANDS)
    assert options["prog"] == parser.prog == "ase-dipole"


def test_every_docs_page_is_in_a_toctree():
    """sphinx-build -W fails on a page in no toctree too; this finds it without Sphinx."""
    entries = set()
    for page in (ROOT / "docs").glob("*.md"):
        for block in TOCTREE.findall(page.read_text()):
            entries.update(line.strip() for line in block.splitlines()
                           if line.strip() and not line.startswith(":"))
    pages = {page.stem for page in (ROOT / "docs").glob("*.md")} - {"index"}
    missing = sorted(pages - entries)
    assert not missing, f"docs pages in no toctree (add each to docs/index.md): {missing}"
    absent = sorted(entries - pages)
    assert not absent, f"toctree entries without a page: {absent}"


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/ (at most 200)"


def test_readme_and_getting_started_show_the_same_md_snippet():
    def snippet(path):
        return re.search(r"```python\n(.*?)```", (ROOT / path).read_text(), re.DOTALL).group(1)

    assert snippet("README.md") == snippet("docs/getting_started.md")
