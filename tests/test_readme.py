"""README.md cannot rot: its Python blocks run, its command lines parse, its quick start is CI's."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_quick_start_commands():
    first, second = BLOCKS[0], BLOCKS[1]
    assert README.lstrip().startswith("# redunet")
    assert first[0] == second[0] == "bash"
    assert "redunet build" in first[1] and "pip install" in first[1]
    # CI runs exactly README's test command.
    ci = (ROOT / ".ci" / "run").read_text()
    assert second[1].strip() in ci.splitlines()


@pytest.mark.parametrize("index", [i for i, (lang, _) in enumerate(BLOCKS) if lang == "python"])
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                            "ignore::ResourceWarning")
def test_python_blocks_run(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index][1], f"README.md block {index}", "exec"), {})


def _command_lines():
    for lang, body in BLOCKS[2:]:
        if lang == "bash":
            for line in body.splitlines():
                if line.startswith("redunet "):
                    yield line


@pytest.mark.parametrize("line", list(_command_lines()))
def test_command_lines_parse(line):
    from redunet.cli import _parser
    argv = shlex.split(line)[1:]
    if argv == ["--help"]:
        with pytest.raises(SystemExit) as exit_:
            _parser().parse_args(argv)
        assert exit_.value.code == 0
    else:
        args = _parser().parse_args(argv)
        assert callable(args.handler)
