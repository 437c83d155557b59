"""The framework-neutral evaluation layer: what every adapter (lmms-eval, VLMEvalKit, our runner) calls.

    from clinhallu_tasks.evaluation import EvaluationContext, TaskEvaluation, prepare

    context = EvaluationContext.from_env(output_folder=folder, model="name", framework="lmms-eval 0.7.3",
                                         settings={...generation settings...})
    prepared = prepare("clinhallu_sample_baseline")          # replace_kr: prepare(task, baseline=folder)
    evaluation = TaskEvaluation(context, prepared)
    prompt = evaluation.prompt(item)                         # Prompt(system, text, image_paths)
    evaluation.add_response(item_id, response_text, Generation(...))   # thread-safe; judge asked at once
    summary = evaluation.finish()                            # records written; a judge failure never raises

Never imports a framework (docs/DESIGN.md).
"""

from clinhallu_tasks.evaluation.context import EvaluationContext
from clinhallu_tasks.evaluation.prepared import PreparedTask, Prompt, data_fingerprint, prepare
from clinhallu_tasks.evaluation.task import TaskEvaluation
from clinhallu_tasks.records import Generation

__all__ = ["EvaluationContext", "Generation", "PreparedTask", "Prompt", "TaskEvaluation", "data_fingerprint", "prepare"]
