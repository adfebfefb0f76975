"""The shape of the house: the project's modules import each other without a cycle, in the order README's
file map claims (a file imports only files in the rows above it, or in its own row), every import counted,
those inside functions too; and no line of code or shell is wider than the hard limit."""
import ast
import os
import re
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted(path.stem for path in REPO.glob("*.py"))


def project_imports(module: str) -> dict[str, int]:
    """The project modules `module` imports, anywhere in the file (top level, functions, TYPE_CHECKING
    blocks), each with the line of its first import: a lazy import inside a function is an arrow too."""
    found = {}
    for node in ast.walk(ast.parse((REPO / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in MODULES and top != module:
                found.setdefault(top, node.lineno)
    return found


def all_imports(module: str) -> set[str]:
    """Every top-level package `module` imports, project or not."""
    tree = ast.parse((REPO / f"{module}.py").read_text())
    return ({alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
            | {node.module.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module})


def file_map() -> list[list[str]]:
    """README's file map: the modules named in the first cell of each row of the "## Files" table, in
    order."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Files\n"):]
    section = section[:section.index("\n## ", 1)]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            rows.append(re.findall(r"`(\w+)\.py`", line.split("|")[1]))
    return [row for row in rows if row]


def test_finds_imports_inside_functions_and_the_graph_check_sees_a_cycle():
    # the parser must see a lazy import (data_pipeline reads a tokenizer through hf inside `tokenize`) ...
    assert "hf" in project_imports("data_pipeline")
    # ... and the cycle check must fail on a cycle, or its passing below says nothing
    with pytest.raises(CycleError):
        tuple(TopologicalSorter({"model": {"hf"}, "hf": {"model"}}).static_order())


def test_the_import_graph_has_no_cycle():
    graph = {module: set(project_imports(module)) for module in MODULES}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as e:
        pytest.fail(f"import cycle among the project's modules: {' -> '.join(e.args[1])}")


def test_readme_file_map_is_in_import_order():
    rows = file_map()
    listed = [module for row in rows for module in row]
    assert sorted(listed) == MODULES, "README's file map must list every module once: " \
        f"missing {sorted(set(MODULES) - set(listed))}, unknown or repeated {sorted(listed)}"
    row_of = {module: index for index, row in enumerate(rows) for module in row}
    # files named in one row (toy_templates.py, toy_data.py) may import each other; the cycle test guards them
    upward = [f"{module}.py:{line} imports {name}.py, listed below it"
              for module in MODULES for name, line in project_imports(module).items()
              if row_of[name] > row_of[module]]
    assert not upward, "README says a file imports only the files above it:\n" + "\n".join(upward)


def test_readme_claims_about_the_leaf_modules():
    """README: formats.py, flags.py and sandbox.py import only the standard library; model.py and
    tokenizer.py nothing of hf.py (which is built on them)."""
    for module in ("formats", "flags", "sandbox"):
        outside = all_imports(module) - set(sys.stdlib_module_names) - {"__future__"}
        assert not outside, f"{module}.py imports {sorted(outside)}"
    assert project_imports("model") == {}
    assert "hf" not in project_imports("tokenizer")


HARD_LIMIT = 120  # the style is ~110 characters; nothing may pass this
SKIPPED = {".git", ".venv", "runs", "data", "__pycache__"}  # not the project's code: tools, outputs, data


def code_files() -> list[str]:
    """Every Python file and shell script of the repository, relative to its root."""
    found = []
    for folder, subfolders, names in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED]
        found += [str(Path(folder, name).relative_to(REPO)) for name in names
                  if name.endswith((".py", ".sh"))]
    return sorted(found)


CODE_FILES = code_files()


@pytest.mark.parametrize("name", CODE_FILES)
def test_no_line_is_wider_than_the_hard_limit(name):
    lines = (REPO / name).read_text().splitlines()
    wide = [f"{name}:{number}: {len(line)} characters" for number, line in enumerate(lines, 1)
            if len(line) > HARD_LIMIT]
    assert not wide, "\n".join(wide)
