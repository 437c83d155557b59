"""The benchmarks' official prompt wording, imported on demand from the user's own checkout.

We may not ship it; `import-prompts` reads it from a checkout at run time (see
docs/official-wording.md) and `provenance` says which wording a run used.
"""

from clinhallu_tasks.official.importer import ImportResult, import_prompts
from clinhallu_tasks.official.provenance import template_provenance, wording_provenance
from clinhallu_tasks.official.source import OfficialPromptError

__all__ = ["ImportResult", "OfficialPromptError", "import_prompts", "template_provenance", "wording_provenance"]
