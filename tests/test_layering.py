"""The command line sits on top of the library: commands parse arguments and call the library,
and nothing else (the package, scripts, benchmarks, examples) imports `keras_htr.cli`."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / "keras_htr" / "cli"


def imported_modules(path: Path, package: str):
    """Absolute names of the modules a Python file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _is_cli(name: str) -> bool:
    return name == "keras_htr.cli" or name.startswith("keras_htr.cli.")


def test_only_the_cli_imports_the_cli():
    offenders = []
    for folder in ("keras_htr", "scripts", "benchmarks", "examples"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.is_relative_to(CLI):
                continue
            package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
            offenders += [
                f"{path.relative_to(REPO)}: {n}"
                for n in imported_modules(path, package)
                if _is_cli(n)
            ]
    assert not offenders, "library code imports the command line:\n" + "\n".join(offenders)


def test_the_check_sees_relative_and_absolute_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "from ..cli import transcribe\nimport keras_htr.cli.main\nfrom keras_htr import cli\n"
    )
    found = [n for n in imported_modules(path, "keras_htr.export") if _is_cli(n)]
    assert found == [
        "keras_htr.cli",
        "keras_htr.cli.transcribe",
        "keras_htr.cli.main",
        "keras_htr.cli",
    ]
