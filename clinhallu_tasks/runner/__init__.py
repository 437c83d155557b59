"""`clinhallu-tasks run`: the official ClinHallu protocol through lmms-eval, with one model (docs/run.md).

Pure parts (no framework import): `plan` (which tasks, in which order), `resampling` (the
generation passes), `generations` (attempts on disk, for resume), `manifest` (what a run folder
was asked to do), `secrets` (masking). `lmms_driver` is the only module that touches lmms-eval;
`protocol` joins them to the evaluation layer; `command` is the subcommand (arguments, exit codes).
"""
