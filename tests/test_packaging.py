"""The wheel: built from pyproject, installed into a fresh venv, every module imports from it.

The editable install used for development finds any folder on disk, so a subpackage missing from
pyproject's ``packages`` (or a template missing from ``package-data``) only shows up once Rapport
is installed from its wheel. These tests run once, not per database backend.
"""

from __future__ import annotations

import json
import os
import platform as stdlib_platform
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> import package (pyproject's package-dir).
PACKAGE_DIRS = {
    "platform": "rapport.platform",
    "tenants": "rapport.tenants",
    "billing": "rapport.billing",
    "api": "rapport.api",
    "web": "rapport.web",
}
# Files shipped as package data rather than as importable modules.
DATA_DIRS = {("platform", "migrations"), ("web", "templates"), ("web", "static")}
# platform/ is a namespace portion on purpose: an __init__.py there would shadow the stdlib.
NAMESPACE_ROOTS = {"platform"}


def _is_data(folder: str, rel: Path) -> bool:
    return bool(rel.parts) and (folder, rel.parts[0]) in DATA_DIRS


def _source_files(folder: str, pattern: str) -> Iterator[Path]:
    base = ROOT / folder
    if not base.is_dir():
        return
    for path in sorted(base.rglob(pattern)):
        if "__pycache__" not in path.parts and path.is_file():
            yield path


def source_modules() -> list[str]:
    """Every module of the source tree, named as the installed package would name it."""
    modules = []
    for folder, package in PACKAGE_DIRS.items():
        for path in _source_files(folder, "*.py"):
            rel = path.relative_to(ROOT / folder)
            if _is_data(folder, rel):
                continue
            parts = [package, *rel.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules.append(".".join(parts))
    return modules


def data_files() -> list[tuple[str, Path]]:
    """(import package, path relative to it) of every template, static asset and migration file."""
    found = []
    for folder, sub in sorted(DATA_DIRS):
        for path in _source_files(f"{folder}/{sub}", "*"):
            if path.suffix != ".pyc":
                found.append((PACKAGE_DIRS[folder], path.relative_to(ROOT / folder)))
    return found


def test_every_source_folder_with_code_is_a_package():
    """A folder without __init__.py becomes a namespace package that the wheel silently drops."""
    missing = set()
    for folder in PACKAGE_DIRS:
        for path in _source_files(folder, "*.py"):
            rel = path.relative_to(ROOT / folder)
            if _is_data(folder, rel):
                continue
            directory = path.parent
            while True:
                is_root = directory == ROOT / folder
                if (
                    not (is_root and folder in NAMESPACE_ROOTS)
                    and not (directory / "__init__.py").exists()
                ):
                    missing.add(str(directory.relative_to(ROOT)))
                if is_root:
                    break
                directory = directory.parent
    assert not missing, f"add an __init__.py to: {sorted(missing)}"
    assert not (ROOT / "platform" / "__init__.py").exists(), (
        "platform/__init__.py shadows the stdlib"
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the wheel from a copy of the source, install it in a fresh venv; return its python."""
    work = tmp_path_factory.mktemp("wheel")
    # Build from a copy so the build leaves no build/ or egg-info behind in the working tree.
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in PACKAGE_DIRS:
        if (ROOT / folder).is_dir():
            shutil.copytree(
                ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
    dist = work / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(src)],
        work,
    )
    (wheel,) = dist.glob("rapport-*.whl")

    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work)
    python = venv / "bin" / "python"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        work,
    )
    # Dependencies come from the test interpreter's site-packages, appended after the venv's own
    # (a plain path in a .pth file: the .pth files over there, such as the editable install's
    # finder, are not run, so `rapport` can only come from the wheel).
    venv_site = Path(
        subprocess.check_output(  # noqa: S603
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (venv_site / "_rapport_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    yield python


def run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)  # noqa: S603
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


CHECK = textwrap.dedent(
    """
    import importlib, json, sys, traceback
    modules = json.loads(sys.stdin.read())
    report = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except BaseException:
            report[name] = {"error": traceback.format_exc(limit=3)}
        else:
            path = list(getattr(module, "__path__", []))
            report[name] = {"file": getattr(module, "__file__", None), "path": path}
    import platform
    report["__stdlib_platform__"] = {"file": platform.__file__, "system": platform.system()}
    import rapport.web
    report["__web__"] = {"path": list(rapport.web.__path__)}
    print(json.dumps(report))
    """
)


def check_installed(python: Path, modules: list[str], cwd: Path) -> dict[str, dict]:
    result = subprocess.run(  # noqa: S603
        [str(python), "-c", CHECK],
        input=json.dumps(modules),
        cwd=cwd,  # not the source tree: it must not be importable from the current directory
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": os.environ.get("HOME", str(cwd)),
            "RAPPORT_ENV": "test",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_module_imports_from_the_installed_wheel(installed: Path, tmp_path: Path):
    modules = source_modules()
    assert "rapport.platform.app" in modules and "rapport.platform.tenancy.scope" in modules
    report = check_installed(installed, modules, tmp_path)
    venv = installed.parent.parent
    failed = {name: r["error"] for name, r in report.items() if "error" in r}
    assert not failed, "modules that do not import from the wheel:\n" + "\n".join(
        f"{name}:\n{error}" for name, error in failed.items()
    )
    outside = {}
    for name in modules:
        locations = [report[name]["file"]] if report[name]["file"] else report[name]["path"]
        if not locations or not all(Path(p).is_relative_to(venv) for p in locations):
            outside[name] = locations
    assert not outside, f"imported from outside the wheel's venv: {outside}"
    assert Path(report["rapport.platform.app"]["file"]).is_relative_to(venv)

    # `import platform` still finds the standard library, not our namespace portion.
    stdlib = report["__stdlib_platform__"]
    assert Path(stdlib["file"]).parent == Path(sysconfig.get_paths()["stdlib"])
    assert stdlib["system"] == stdlib_platform.system()


def test_templates_static_files_and_migrations_are_in_the_wheel(installed: Path, tmp_path: Path):
    files = data_files()
    assert any(
        package == "rapport.web" and rel.parts[0] == "templates" for package, rel in files
    ), "the source tree has no templates to check"
    report = check_installed(installed, ["rapport.platform.migrate"], tmp_path)
    (web_dir,) = report["__web__"]["path"]
    installed_root = Path(web_dir).parent  # site-packages/rapport
    missing = [
        f"{package}/{rel}"
        for package, rel in files
        if not (installed_root / package.split(".", 1)[1].replace(".", "/") / rel).is_file()
    ]
    assert not missing, f"package data missing from the wheel: {missing}"
