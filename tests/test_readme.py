"""The README's settings table is the one users read; it must match the code."""

from pathlib import Path

from conf.settings import describe

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented_with_its_default():
    for env, default, meaning in describe():
        shown = f"`{default}`" if default else "(empty)"
        assert f"| `{env}` | {shown} | {meaning} |" in README, env
