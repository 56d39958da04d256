"""What the README tells an operator to use exists: every template output it names, every make target it names."""

from __future__ import annotations

import re

import pytest

from local.template import ROOT, template

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("output", sorted(set(re.findall(r"`(\w+)` output", README))))
def test_every_output_the_readme_names_is_one_of_the_templates(output: str) -> None:
    assert output in template()["Outputs"]


@pytest.mark.parametrize("target", sorted(set(re.findall(r"`make ([a-z][a-z0-9-]*)", README))))
def test_every_make_target_the_readme_names_exists(target: str) -> None:
    assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(), re.MULTILINE), target
