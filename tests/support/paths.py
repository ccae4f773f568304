"""Where the tests find the project and the real data beside it (../shared/data, never copied in)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Resolved, as the code resolves the paths it is given: ../shared may be a symbolic link.
SHARED_DATA = (PROJECT_ROOT.parent / "shared" / "data").resolve()
