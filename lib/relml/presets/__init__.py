"""Per-paper notebook parameters: `relml.presets.<slug>.PARAMS` maps NAME → `relml.notebook.Param`."""
