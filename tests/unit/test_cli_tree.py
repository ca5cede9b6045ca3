"""One argparse tree: ``riskstream train`` and ``riskstream evaluate`` are subcommands like the others."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from riskstream.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "models" / "artifacts"

#: The flags of the lab commands when each had a parser of its own (commit d38ec19):
#: option -> (dest, default, type, action, choices). The tree must keep every one.
TRAIN_FLAGS: dict[str, tuple[Any, ...]] = {
    "--riders": ("riders", 560, int, "_StoreAction", None),
    "--hours": ("hours", 24.0, float, "_StoreAction", None),
    "--hazard-scale": ("hazard_scale", 1.0, float, "_StoreAction", None),  # the served scale (issue 15)
    "--seed": ("seed", 7, int, "_StoreAction", None),
    "--out": ("out", ARTIFACTS, Path, "_StoreAction", None),
    "--horizon-min": ("horizon_min", 60, int, "_StoreAction", None),
    "--snapshot-every-s": ("snapshot_every_s", 300.0, float, "_StoreAction", None),
    "--workers": ("workers", None, int, "_StoreAction", None),
    "--version": ("version", None, None, "_StoreAction", None),
    "--quick": ("quick", False, None, "_StoreTrueAction", None),
    "--holdout-riders": ("holdout_riders", 400, int, "_StoreAction", None),
    "--calibration-riders": ("calibration_riders", 300, int, "_StoreAction", None),
    "--params": ("params", None, json.loads, "_StoreAction", None),
    "--monotone": ("monotone", None, None, "_StoreAction", None),
    "--calibration-hours": ("calibration_hours", 16.0, float, "_StoreAction", None),
    "--bootstrap": ("bootstrap", 200, int, "_StoreAction", None),
    "--fleet-seeds": ("fleet_seeds", None, None, "_StoreAction", None),
    "--choose-params": ("choose_params", None, json.loads, "_StoreAction", None),
    "--no-current": ("no_current", False, None, "_StoreTrueAction", None),
    "--save-frame": ("save_frame", None, Path, "_StoreAction", None),
    "--from-frame": ("from_frame", None, Path, "_StoreAction", None),
    "--no-cache": ("no_cache", False, None, "_StoreTrueAction", None),
}
EVALUATE_FLAGS: dict[str, tuple[Any, ...]] = {
    "--artifact": ("artifact", None, Path, "_StoreAction", None),
    # the report of the repository (the module's move to riskstream/lab/ had pointed it at riskstream/docs/)
    "--out": ("out", REPO / "docs/reports/model-evaluation.md", Path, "_StoreAction", None),
    "--img-dir": ("img_dir", None, Path, "_StoreAction", None),
    "--riders": ("riders", 400, int, "_StoreAction", None),
    "--scale1-riders": ("scale1_riders", 400, int, "_StoreAction", None),
    "--hours": ("hours", 16.0, float, "_StoreAction", None),
    "--bootstrap": ("bootstrap", 200, int, "_StoreAction", None),
    "--drift": ("drift", False, None, "_StoreTrueAction", None),
    "--drift-riders": ("drift_riders", 400, int, "_StoreAction", None),
    "--drift-hours": ("drift_hours", 14.0, float, "_StoreAction", None),
    "--drift-after-h": ("drift_after_h", 4.0, float, "_StoreAction", None),
    "--drift-scale": ("drift_scale", 1.0, float, "_StoreAction", None),
    "--drift-rr": ("drift_rr", 4.0, float, "_StoreAction", None),
    "--drift-weather": ("drift_weather", "everywhere", None, "_StoreAction", ("everywhere", "half-zones")),
    "--drift-estimator": ("drift_estimator", None, None, "_StoreAction", None),
    "--online-select": ("online_select", False, None, "_StoreTrueAction", None),
    "--online-corrections": ("online_corrections", False, None, "_StoreTrueAction", None),
    "--select-riders": ("select_riders", 400, int, "_StoreAction", None),
    "--select-hours": ("select_hours", 16.0, float, "_StoreAction", None),
    "--compare": ("compare", None, Path, "_StoreAction", None),
    "--update-card": ("update_card", False, None, "_StoreTrueAction", None),
    "--fleet-seed": ("fleet_seed", None, int, "_StoreAction", None),
    "--fleet-scale": ("fleet_scale", 1.0, float, "_StoreAction", None),
    "--json": ("json", None, Path, "_StoreAction", None),
    "--workers": ("workers", None, int, "_StoreAction", None),
    "--no-cache": ("no_cache", False, None, "_StoreTrueAction", None),
}


def _subcommand(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[name]


def _flags(parser: argparse.ArgumentParser) -> dict[str, tuple[Any, ...]]:
    parser.format_help()  # a lab command's flags are added when it is first used
    return {a.option_strings[0]: (a.dest, a.default, a.type, type(a).__name__,
                                  tuple(a.choices) if a.choices else None)
            for a in parser._actions if a.dest != "help"}


@pytest.mark.parametrize(("name", "flags"), [("train", TRAIN_FLAGS), ("evaluate", EVALUATE_FLAGS)])
def test_the_lab_commands_keep_every_flag_and_default(name: str, flags: dict[str, tuple[Any, ...]]) -> None:
    parser = _subcommand(name)
    assert _flags(parser) == flags
    assert parser.prog == f"riskstream {name}"
    assert parser.description.startswith(f"``riskstream {name}``: ")
    args = parser.parse_args([])
    assert args.func.__module__ == f"riskstream.lab.{'train' if name == 'train' else 'evaluate_cli'}"
    assert args.func.__name__ == "run"


def test_help_of_a_lab_command_lists_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: riskstream train") and "--from-frame" in out and "--holdout-riders" in out


def test_a_wrong_flag_of_a_lab_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--drift-weather", "sometimes"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: riskstream evaluate" in err and "invalid choice: 'sometimes'" in err


def test_top_level_help_does_not_import_the_lab() -> None:
    code = ("import sys; from riskstream.cli.main import build_parser; build_parser().format_help(); "
            "build_parser().parse_args(['schemas']); "
            "print(sorted(m for m in sys.modules if m.startswith('riskstream.lab') or m in ('lightgbm', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_a_command_gets_its_flags_as_given_after_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr("riskstream.cli.main.cmd_schemas", lambda args: seen.append(args.argv) or 0)
    assert main(["-v", "schemas", "--out", "x"]) == 0
    assert seen == [["--out", "x"]]
