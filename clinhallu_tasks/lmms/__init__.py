"""The lmms-eval adapter: the hook functions the task YAMLs name (`hooks`), and the YAML generator.

No logging is configured here: importing a library must not add handlers (lines would print twice
where the host already configured logging). Our warnings and errors reach stderr through Python's
last-resort handler when nothing is configured.
"""
