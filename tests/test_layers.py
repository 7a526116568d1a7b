"""Dependencies run one way: the import-linter contract in pyproject.toml holds, and it covers every folder."""
import logging
import sys
import textwrap
import tomllib
from pathlib import Path

from importlinter.cli import lint_imports as _lint_imports

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())


def lint_imports(**kwargs) -> int:
    """import-linter's entry point, minus its side effect on logging.

    It configures logging with `dictConfig`, which disables every logger that exists, ours included
    (a later test then saw no "playing generated games" warning); the loggers are enabled again after.
    """
    loggers = [logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    disabled = [logger.disabled for logger in loggers]
    try:
        return _lint_imports(**kwargs)
    finally:
        for logger, was in zip(loggers, disabled):
            logger.disabled = was


def test_linting_leaves_our_loggers_enabled():
    ours = logging.getLogger("vlm_agent.probe_of_test_layers")
    lint_imports(config_filename=str(ROOT / "pyproject.toml"))
    assert not ours.disabled


def test_no_module_imports_from_a_layer_above_it():
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0, "see the broken contract printed above"


def test_every_installed_folder_is_a_layer_of_the_contract():
    packages = set(CONFIG["tool"]["setuptools"]["package-dir"])
    (contract,) = CONFIG["tool"]["importlinter"]["contracts"]
    assert packages == set(contract["layers"]) == set(CONFIG["tool"]["importlinter"]["root_packages"])


def test_the_contract_catches_an_import_from_a_higher_layer(tmp_path, monkeypatch):
    package = tmp_path / "probe"
    for layer in ("high", "low"):
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "low" / "reaches_up.py").write_text("from probe.high import something  # noqa\n")
    config = tmp_path / "setup.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["probe"]
        [[tool.importlinter.contracts]]
        name = "probe"
        type = "layers"
        layers = ["probe.high", "probe.low"]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert lint_imports(config_filename=str(config)) == 1
    sys.modules.pop("probe", None)
