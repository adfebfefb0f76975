"""flags.py and every script's flags: each numeric flag is checked at parse time, and a bad value stops with
a usage error naming the flag, before any work starts."""
import argparse
from dataclasses import dataclass, replace

import pytest

import bench
import grpo
import pretrain
import reward
import sft
from flags import add_flags, check_ranges, config_from, flag


@dataclass
class Example:
    steps: int = flag(3, "steps", min=1)
    rate: float = flag(0.5, "a rate", min=0.0, max=1.0, above=True)
    mode: str = flag("a", "a mode", choices=("a", "b"))
    on: bool = flag(False, "a switch")
    files: list[str] = flag([], "files", nargs="*")
    mix: list[str] | None = flag(None, "repeatable", append=True)
    resume: str | None = flag(None, "resume", nargs="?", const="latest")
    count: int | None = flag(None, "an optional count", min=0)
    internal: int = 7  # not a flag


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_flags(parser, Example)
    return config_from(Example, parser.parse_args(list(argv)))


def test_flags_parse_types_defaults_and_switches():
    assert parse() == Example()
    cfg = parse("--steps", "5", "--rate", "1", "--mode", "b", "--on", "--files", "x", "y", "--resume",
                "--count", "2e3")
    assert (cfg.steps, cfg.rate, cfg.mode, cfg.on, cfg.files, cfg.resume, cfg.count) == \
        (5, 1.0, "b", True, ["x", "y"], "latest", 2000)
    assert parse("--no-on").on is False and parse("--resume", "ckpt").resume == "ckpt"
    assert parse("--mix", "a:1", "--mix", "b:2").mix == ["a:1", "b:2"]
    with pytest.raises(SystemExit):
        parse("--internal", "3")


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "argument --steps: must be >= 1, got 0"),
    (["--steps", "1.5"], "argument --steps: expected a whole number"),
    (["--rate", "0"], "argument --rate: must be > 0.0, got 0"),
    (["--rate", "2"], "argument --rate: must be <= 1.0, got 2"),
    (["--rate", "nan"], "argument --rate: must be a finite number"),
    (["--rate", "inf"], "argument --rate: must be a finite number"),
    (["--count", "-1"], "argument --count: must be >= 0, got -1"),
    (["--mode", "c"], "argument --mode: invalid choice"),
])
def test_bad_values_name_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse(*argv)
    assert message in capsys.readouterr().err


def test_check_ranges_for_configs_built_in_code():
    check_ranges(Example())
    with pytest.raises(ValueError, match="--steps must be >= 1, got 0"):
        check_ranges(Example(steps=0))
    with pytest.raises(ValueError, match="--mode must be one of"):
        check_ranges(Example(mode="z"))


# every training script, the flags that trained silently wrong or crashed obscurely before they were checked
BAD = [
    (pretrain.main, ["--grad-clip", "-1"], "--grad-clip: must be > 0.0"),       # trained by gradient ascent
    (pretrain.main, ["--lr", "inf"], "--lr: must be a finite number"),          # exported NaN weights
    (pretrain.main, ["--seq-len", "-1"], "--seq-len: must be >= 2"),             # trained nothing
    (pretrain.main, ["--micro-batch", "0"], "--micro-batch: must be >= 1"),      # ZeroDivisionError
    (pretrain.main, ["--keep", "-2"], "--keep: must be >= 0"),
    (pretrain.main, ["--dist-timeout", "0"], "--dist-timeout: must be > 0.0"),
    (grpo.main, ["-G", "1"], "--group-size/-G: must be >= 2"),                    # advantages always zero
    (grpo.main, ["--temperature", "0"], "--temperature: must be > 0.0"),          # division by zero
    (grpo.main, ["--temperature", "-1"], "--temperature: must be > 0.0"),
    (grpo.main, ["--top-p", "0"], "--top-p: must be > 0.0"),
    (grpo.main, ["--clip-eps", "0"], "--clip-eps: must be > 0.0"),
    (grpo.main, ["--rm-replay", "1.5"], "--rm-replay: must be <= 1.0"),
    (lambda argv: sft.main(["train", *argv]), ["--batch-size", "0"], "--batch-size: must be >= 1"),
    (lambda argv: reward.main(["train", *argv]), ["--replay-share", "2"], "--replay-share: must be <= 1.0"),
    (lambda argv: reward.main(["label", "--policy", "p", "--data", "d", "--out", "o", *argv]),
     ["--limit", "-1"],
     "--limit: must be >= 1"),                                                   # dropped the last question
    (lambda argv: sft.main(["rft", "--model-path", "m", "--data", "d", "--out", "o", *argv]), ["--k", "0"],
     "--k: must be >= 1"),
]


@pytest.mark.parametrize("main, argv, message", BAD, ids=[" ".join(argv) for _, argv, _ in BAD])
def test_every_script_refuses_bad_numbers_at_parse_time(main, argv, message, capsys):
    required = {grpo.main: ["--init", "x", "--data", "y"]}.get(main, [])
    with pytest.raises(SystemExit) as stop:
        main([*required, *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message.split(":")[1].strip() in err and message.split(":")[0].split("/")[0] in err, err


def test_every_flag_of_every_script_has_help():
    parsers = [pretrain.build_parser(), grpo.build_parser()]
    for parser in parsers:
        for action in parser._actions:
            if action.dest != "help":
                assert action.help, f"--{action.dest} has no help"


def test_an_expected_error_is_one_line_naming_it_not_a_traceback(tmp_path):
    """From the command line, a missing file or an --out holding another run is one line and exit status 2."""
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(repo / "pretrain.py"), "--data", str(tmp_path / "missing")],
                         capture_output=True, text=True, cwd=repo, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("pretrain.py: error: no token-shard manifest at")


def test_defaults_from_an_instance_replace_the_fields_defaults_and_flags_still_override():
    """bench.py's --quick: another set of defaults (an instance), each flag still given on the command
    line."""
    parser = argparse.ArgumentParser()
    add_flags(parser, Example, defaults=Example(steps=9, mode="b"))
    assert config_from(Example, parser.parse_args([])) == Example(steps=9, mode="b")
    assert config_from(Example, parser.parse_args(["--steps", "4"])) == Example(steps=4, mode="b")
    assert "(default: 9)" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--steps", "0"])  # the bounds stay


def test_bench_sizes_are_flags_made_by_flags_py(capsys):
    assert bench.parse_args([])[1] == bench.Sizes()
    assert bench.parse_args(["--quick"])[1] == bench.QUICK
    # a size flag overrides either set, also with the full run's own value under --quick
    assert bench.parse_args(["--quick", "--seq-len", "256"])[1] == replace(bench.QUICK, seq_len=256)
    assert bench.parse_args(["--repeats", "5"])[1] == replace(bench.Sizes(), repeats=5)
    with pytest.raises(SystemExit):
        bench.parse_args(["--quick", "--repeats", "0"])
    assert "argument --repeats: must be >= 1, got 0" in capsys.readouterr().err
