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
