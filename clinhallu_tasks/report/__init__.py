"""`clinhallu-tasks report`: leaderboards, bootstrap intervals, charts and submission.json.

Modules: `inputs` (reads lmms-eval output folders; the only one that knows their layout),
`bootstrap` (seeded item resampling), `scores` (headline numbers, averages, differences),
`tables` (Markdown and CSV), `charts` (PNG, matplotlib on demand), `submission` (schema'd JSON,
redaction, fingerprints), `command` (argparse wiring). Nothing here imports lmms_eval, torch or
a model backend.
"""
