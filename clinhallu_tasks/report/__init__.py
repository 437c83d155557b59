"""`clinhallu-tasks report`: leaderboards, bootstrap intervals, charts, cost and submission.json.

It reads only the typed run records (`clinhallu_tasks.records`) and the benchmark vocabulary
(`clinhallu_tasks.spec`). Modules: `inputs` (records -> models), `bootstrap` (seeded item
resampling), `scores` (every row, the average, n and status: one definition each), `provenance`
(what produced the numbers), `tables`, `charts`, `submission` (jsonschema-checked), `command`.
Nothing here imports lmms_eval, torch or a model backend.
"""
