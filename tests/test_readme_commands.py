"""The README's commands are the command line that exists, and its install steps put `cnnstudio` on PATH.

Every `cnnstudio ...` the README shows (code blocks, inline code, `python -m cnnstudio`, torchrun's
`-m cnnstudio`) is checked against `cnnstudio.cli.build_parser()`: its subcommand and each flag must
exist, and a whole command from a code block must parse. `make run` alone leaves `cnnstudio` off the
PATH (it lives in .venv/bin); the Quick start's `make install-user` links it into ~/.local/bin, and that
is run here for real, into a temporary BINDIR with a stand-in .venv.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cnnstudio.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def cli_arguments(line: str) -> list[str] | None:
    """The arguments after `cnnstudio` in one README command line, or None when the line runs
    something else. `[--json]` (optional, as usage lines write it) counts as given; `<run>` is a name."""
    line = line.replace("[", " ").replace("]", " ").replace("<", "").replace(">", "")
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "cnnstudio" and (i == 0 or words[i - 1] == "-m"):
            return words[i + 1:]
    return None


def readme_commands() -> list[tuple[str, list[str], bool]]:
    """(line, arguments, whole) for each command: `whole` for code-block lines, which must parse as
    written; inline code may show a command in part (`cnnstudio train`)."""
    found = []
    for block in code_blocks(README):
        for line in block.splitlines():
            args = cli_arguments(line)
            if args is not None:
                found.append((line.strip(), args, True))
    for span in re.findall(r"`([^`\n]*cnnstudio[^`\n]*)`", README):
        args = cli_arguments(span)
        if args is not None:
            found.append((span, args, False))
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # argparse has no public API for this
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings}


COMMANDS = readme_commands()


def test_the_readme_shows_the_command_line():
    """The parsing below found the README's commands: a change of format must not make this pass empty."""
    whole = [c for c in COMMANDS if c[2]]
    assert len(whole) >= 12
    assert {args[0] for _, args, _ in whole if args} >= {"datasets", "models", "devices", "train", "evaluate",
                                                         "predict", "export"}


@pytest.mark.parametrize("line,args,whole", COMMANDS, ids=[c[0][:70] for c in COMMANDS])
def test_each_readme_command_exists(line, args, whole):
    parser = build_parser()
    commands = subcommands(parser)
    target = parser
    if args and not args[0].startswith("-"):
        assert args[0] in commands, f"README: `{line}`: cnnstudio has no command {args[0]!r}"
        target = commands[args[0]]
    known = options(target) | (options(parser) if target is parser else set())
    for word in args:
        flag = word.split("=", 1)[0]
        if flag.startswith("--"):
            assert flag in known, f"README: `{line}`: {args[0] if target is not parser else 'cnnstudio'} has no {flag}"
    if whole:
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            pytest.fail(f"README: `{line}` does not parse (exit {exc.code})")


def test_a_renamed_flag_would_be_caught():
    """The check above can fail: a flag the parser lacks is reported."""
    parser = build_parser()
    train = subcommands(parser)["train"]
    assert "--epochs" in options(train) and "--epochz" not in options(train)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--dataset", "shapes", "--epochz", "3"])


# -- install steps -----------------------------------------------------------------------------------------

def test_the_quick_start_puts_cnnstudio_on_the_path():
    steps = "\n".join(code_blocks(section(README, "Quick start")))
    targets = re.findall(r"^make ([\w-]+)", steps, flags=re.M)
    assert "install-user" in targets, "the Quick start never puts `cnnstudio` on the PATH"
    assert "~/.local/bin" in section(README, "Quick start")
    assert "install-user" in section(README, "Command line")


@pytest.fixture
def stand_in_venv(tmp_path) -> Path:
    """A .venv as `make run` leaves it, with a `cnnstudio` that says it ran: make sees it up to date and
    installs nothing."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 0\n")
    script = venv / "bin" / "cnnstudio"
    script.write_text("#!/bin/sh\necho \"cnnstudio from .venv: $*\"\n")
    for f in (venv / "bin" / "python", script):
        f.chmod(0o755)
    (venv / ".installed").touch()
    return venv


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_install_user_links_cnnstudio_into_bindir(stand_in_venv, tmp_path):
    bindir = tmp_path / "home" / ".local" / "bin"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.run(["make", "-s", "install-user", f"VENV={stand_in_venv}", f"BINDIR={bindir}"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "cnnstudio is on your PATH" in proc.stdout
    found = shutil.which("cnnstudio", path=env["PATH"])
    assert found == str(bindir / "cnnstudio")
    ran = subprocess.run(["cnnstudio", "--help"], env=env, capture_output=True, text=True, timeout=30)
    assert ran.stdout.strip() == "cnnstudio from .venv: --help"

    # Not on PATH yet: it says how to get there.
    proc = subprocess.run(["make", "-s", "install-user", f"VENV={stand_in_venv}", f"BINDIR={bindir}"], cwd=ROOT,
                          env={**os.environ, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f'export PATH="{bindir}:$PATH"' in proc.stdout

    # uninstall-user removes its own link only.
    proc = subprocess.run(["make", "-s", "uninstall-user", f"VENV={tmp_path / 'other'}", f"BINDIR={bindir}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (bindir / "cnnstudio").is_symlink() and "left alone" in proc.stdout
    subprocess.run(["make", "-s", "uninstall-user", f"VENV={stand_in_venv}", f"BINDIR={bindir}"], cwd=ROOT,
                   capture_output=True, text=True, timeout=60, check=True)
    assert not (bindir / "cnnstudio").exists()


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_install_user_leaves_a_users_own_cnnstudio_alone(stand_in_venv, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    theirs = bindir / "cnnstudio"
    theirs.write_text("#!/bin/sh\necho mine\n")
    proc = subprocess.run(["make", "-s", "install-user", f"VENV={stand_in_venv}", f"BINDIR={bindir}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "left alone" in proc.stderr
    assert theirs.read_text() == "#!/bin/sh\necho mine\n" and not theirs.is_symlink()
