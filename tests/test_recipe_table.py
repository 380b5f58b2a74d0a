"""docs/training.md's recipe table is the code's (issue 24, item 5): rendered from training/config.py's RECIPES."""

from __future__ import annotations

import re
from pathlib import Path

from googlenet.training import config
from googlenet.training.recipe_table import recipe_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "training.md"


def _docs_table() -> str:
    text = DOC.read_text()
    found = re.search(r"<!-- recipe-table:[^\n]*-->\n(.*?)\n<!-- /recipe-table -->", text, re.S)
    assert found, "docs/training.md lost its <!-- recipe-table --> block"
    return found.group(1)


def test_docs_recipe_table_is_the_codes():
    assert _docs_table() == recipe_table(), "re-render it with: python -m googlenet.training.recipe_table"


def test_the_table_follows_a_change_of_recipe(monkeypatch):
    assert "AdamW, decoupled weight decay 0.05" in recipe_table(("fast",))  # what the main job trains with
    monkeypatch.setitem(config.RECIPES, "fast", {**config.RECIPES["fast"], "optimizer": "sgd", "lr": 0.1,
                                                 "weight_decay": 5e-5})
    changed = recipe_table()
    assert "SGD, Nesterov momentum 0.9, weight decay 5e-05" in changed and "to 0.1, cosine" in changed
    assert changed != _docs_table()
