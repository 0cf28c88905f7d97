from tokentrace.cli import main


def test_no_command_prints_help_and_fails(capsys: object) -> None:
    assert main([]) == 2
