"""Train the Rasa model only when its inputs changed (content fingerprint)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

TRAINING_INPUTS = ("config.yml", "domain.yml")
TRAINING_DATA_DIRS = ("data/nlu", "data/rules", "data/stories")
MODEL_PREFIX = "journeybot-"


def training_data_dirs(project_dir: Path) -> list[Path]:
    return [project_dir / d for d in TRAINING_DATA_DIRS if (project_dir / d).is_dir()]


def fingerprint(project_dir: Path, config: Path | None = None) -> str:
    """A hash of everything that changes the trained model."""
    digest = hashlib.sha256()
    config = config or project_dir / "config.yml"
    files = [config, project_dir / "domain.yml"]
    for directory in training_data_dirs(project_dir):
        files += sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))
    for path in files:
        digest.update(str(path.relative_to(project_dir) if path.is_relative_to(project_dir) else path.name).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    from importlib.metadata import version

    digest.update(version("rasa").encode())
    return digest.hexdigest()[:16]


def model_path(project_dir: Path, models_dir: Path, config: Path | None = None) -> Path:
    return models_dir / f"{MODEL_PREFIX}{fingerprint(project_dir, config)}.tar.gz"


def ensure_model(project_dir: Path, models_dir: Path, config: Path | None = None, quiet: bool = False) -> Path:
    """Return the model for the current inputs, training it first if it does not exist."""
    target = model_path(project_dir, models_dir, config)
    if target.exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    rasa = Path(sys.executable).with_name("rasa")
    command = [
        str(rasa),
        "train",
        "--config", str(config or project_dir / "config.yml"),
        "--domain", str(project_dir / "domain.yml"),
        "--data", *[str(d) for d in training_data_dirs(project_dir)],
        "--out", str(models_dir),
        "--fixed-model-name", target.name[: -len(".tar.gz")],
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        command,
        cwd=project_dir,
        env=env,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
    )
    if result.returncode != 0 or not target.exists():
        tail = (result.stdout or "")[-4000:] if quiet else ""
        raise RuntimeError(f"rasa train failed (exit {result.returncode}){': ' + tail if tail else ''}")
    return target
