import subprocess
import sys

from tokentrace.cli import BACKEND_COMMANDS, build_parser, main


def test_no_command_prints_help_and_fails(capsys: object) -> None:
    assert main([]) == 2


def test_the_hint_names_every_command_the_backend_adds() -> None:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    registered = set(subparsers.choices)  # type: ignore[attr-defined]
    assert registered == {"hash", *BACKEND_COMMANDS}


def test_without_the_backend_extra_its_commands_say_how_to_get_it() -> None:
    """A missing dependency of the backend (here: httpx, hidden from the import system)
    gives its commands a hint; `tokentrace hash` still works."""
    script = (
        "import sys; sys.modules['httpx'] = None\n"
        "from tokentrace.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    missing = subprocess.run(
        [sys.executable, "-c", script, "serve"], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert "the backend is not installed (no module 'httpx')" in missing.stderr
    hashed = subprocess.run(
        [sys.executable, "-c", script, "hash", "t0ken"],
        capture_output=True,
        text=True,
        check=False,
        env={"TOKENTRACE_HASH_KEY": "k" * 32, "PATH": "/usr/bin"},
    )
    assert hashed.returncode == 0, hashed.stderr
    assert len(hashed.stdout.strip()) == 32
