"""README.md tells the truth about the toy run: every command it shows that writes into runs/toy/ is the
command toy.sh runs (`bash toy.sh --commands` prints them), so a reader who copies it gets the README's
numbers."""
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def normalised(command: str) -> str:
    command = re.sub(r"\s+#.*$", "", command)                             # a trailing comment
    command = re.sub(r"--nproc_per_node \d+", "--nproc_per_node N", command)  # toy.sh: min(2, cores)
    return " ".join(command.split())


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)  # line continuations
        commands += [line for line in joined.splitlines() if re.match(r"\s*(python|torchrun) ", line)]
    return commands


def test_readme_toy_commands_are_toy_sh_commands():
    run = subprocess.run(["bash", "toy.sh", "--commands"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    toy = {normalised(line) for line in run.stdout.splitlines() if line.strip()}
    assert len(toy) >= 10
    quoted = [normalised(c) for c in readme_commands() if "--out runs/toy/" in c]
    assert len(quoted) >= 7  # world, tokenizer, corpus, pre-training, SFT, reward model, GRPO, evaluation
    for command in quoted:
        assert command in toy, f"README command not in toy.sh: {command}"
