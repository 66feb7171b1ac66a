"""Where the real-world corpus lives: `../shared/realworld` beside the checkout (as on CI), or $LOSSLINT_REALWORLD.
Tests that use it skip when it is absent; the logs are never copied into the repository."""
import os
from pathlib import Path

REALWORLD = Path(os.environ.get("LOSSLINT_REALWORLD", Path(__file__).resolve().parents[2] / "shared" / "realworld"))
