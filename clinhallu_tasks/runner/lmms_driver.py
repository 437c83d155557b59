"""lmms-eval, driven through its Python API: one model instance for the whole protocol.

Everything that touches lmms-eval is here, and it does what `simple_evaluate`/`evaluate` do
(lmms_eval/evaluator.py, 0.7.3) up to the model call, no further:

- the model class from lmms-eval's registry (`models.get_model`) and one instance from
  `create_from_arg_string(model_args, {batch_size, max_batch_size, device})`;
- the task objects from a `TaskManager` (our folder included) through `get_task_dict`, with
  `--gen_kwargs` merged into each task's generation_kwargs (`set_config(..., update=True)`),
  `num_fewshot` 0, the fewshot seed, and `lm.task_dict[task] = task.dataset`;
- the requests from `task.build_all_requests(...)`, so every backend receives exactly the
  `Instance`s plain lmms-eval would send (doc_to_text/doc_to_visual or doc_to_messages, the
  task's generation_kwargs with `until: []`);
- `lm.generate_until(instances)`, replies unwrapped with lmms-eval's own
  `unwrap_generation_output`.

Not done here: filters, `process_results`, aggregation and lmms-eval's result files. The
evaluation layer scores and judges the final responses and writes our records instead.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import random
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from clinhallu_tasks.errors import ClinHalluTasksError
from clinhallu_tasks.runner.resampling import GenerationError, Reply
from clinhallu_tasks.runner.secrets import Masker, MaskingStream

# What lmms-eval's API backends return in place of a reply when every retry failed
# (models/chat/openai.py); never a model's trace.
REQUEST_FAILED_MARKER = "[LMMS_EVAL_REQUEST_FAILED"


class ModelLoadError(ClinHalluTasksError):
    """The model class could not be found or instantiated."""


class TaskBuildError(ClinHalluTasksError):
    """lmms-eval could not build a task for a reason that is not one of ours."""


def _our_error(error: BaseException) -> ClinHalluTasksError | None:
    """The package's own error behind an lmms-eval wrapper (its message says what to fix), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ClinHalluTasksError):
            return current
        seen.add(id(current))
        last = getattr(current, "last_attempt", None)  # tenacity.RetryError keeps the attempt's exception
        inner = last.exception() if last is not None and hasattr(last, "exception") else None
        current = current.__cause__ or inner or current.__context__
    return None


@dataclass(frozen=True)
class ModelOptions:
    """lmms-eval's own model and request arguments, as its CLI takes them."""

    model: str
    model_args: str
    batch_size: str = "1"
    max_batch_size: int | None = None
    device: str | None = None
    gen_kwargs: str = ""
    limit: float | None = None
    offset: int = 0
    system_instruction: str | None = None
    apply_chat_template: bool = False
    seed: tuple[int | None, int | None, int | None, int | None] = (0, 1234, 1234, 1234)
    include_path: str | None = None
    verbosity: str = "WARNING"


def lmms_eval_version() -> str:
    try:
        return metadata.version("lmms_eval")
    except metadata.PackageNotFoundError:
        return "unknown"


def model_folder_name(model_args: str) -> str:
    """The folder lmms-eval writes a model's results to under --output_path (EvaluationTracker)."""
    from lmms_eval.loggers.evaluation_tracker import GeneralConfigTracker
    from lmms_eval.utils import sanitize_model_name

    return sanitize_model_name(GeneralConfigTracker._get_model_name(model_args))


@contextmanager
def masked_output(masker: Masker) -> Iterator[None]:
    """Mask secrets in everything printed or logged while the run lasts: stdout/stderr
    (print, tqdm), Python logging and loguru (lmms-eval's logger)."""
    from loguru import logger as loguru_logger

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskingStream(sys.stdout, masker), MaskingStream(sys.stderr, masker)

    class _Mask(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg, record.args = masker(record.getMessage()), ()
            return True

    mask_filter = _Mask()
    handlers = [h for name in ("", "clinhallu_tasks") for h in logging.getLogger(name).handlers]
    for handler in handlers:
        handler.addFilter(mask_filter)
    loguru_logger.configure(patcher=lambda record: record.update(message=masker(record["message"])))
    try:
        yield
    finally:
        loguru_logger.configure(patcher=lambda record: None)
        for handler in handlers:
            handler.removeFilter(mask_filter)
        sys.stdout, sys.stderr = saved


def configure_lmms_logging(verbosity: str) -> None:
    """lmms-eval logs through loguru; show its messages from `verbosity` up, on (masked) stderr."""
    from loguru import logger as loguru_logger

    loguru_logger.remove()
    loguru_logger.add(sys.stderr, level=verbosity.upper(), colorize=False,
                      format="{time:HH:mm:ss} | {level} | lmms-eval: {message}")


@dataclass
class LmmsTask:
    """One lmms-eval task object and its requests, by item id."""

    name: str
    task: Any  # lmms_eval.api.task.Task
    instances: dict[str, Any]  # item id -> Instance, in document order

    @property
    def item_ids(self) -> list[str]:
        return list(self.instances)


class LmmsDriver:
    """One lmms-eval model and the task objects of a run."""

    def __init__(self, options: ModelOptions) -> None:
        from lmms_eval import models
        from lmms_eval.tasks import TaskManager

        from clinhallu_tasks.registration import task_dir

        self.options = options
        configure_lmms_logging(options.verbosity)  # after lmms-eval's import, which sets its own handler
        try:
            self.model_class = models.get_model(options.model)
        except Exception as error:  # the registry raises whatever the import raised
            raise ModelLoadError(f"--model {options.model}: {type(error).__name__}: {error}") from None
        self.task_type = "simple" if getattr(self.model_class, "is_simple", True) else "chat"
        include = [str(task_dir())] + ([options.include_path] if options.include_path else [])
        self.task_manager = TaskManager(options.verbosity, include_path=include, model_name=options.model)
        self.lm: Any = None
        self._gen_kwargs = self._parse_gen_kwargs(options.gen_kwargs)

    @staticmethod
    def _parse_gen_kwargs(text: str) -> dict[str, Any] | None:
        from lmms_eval.utils import simple_parse_args_string

        return simple_parse_args_string(text) if text else None

    # ------------------------------------------------------------ tasks

    def registered(self, name: str) -> bool:
        return name in self.task_manager.all_tasks

    def unknown(self, names: Sequence[str]) -> list[str]:
        return [name for name in names if name not in self.task_manager.all_tasks]

    def expand(self, names: Sequence[str]) -> dict[str, Any]:
        """Leaf task name -> task object for task and group names (groups expanded, as lmms-eval does)."""
        from lmms_eval.evaluator_utils import get_task_list
        from lmms_eval.tasks import get_task_dict

        try:
            task_dict = get_task_dict(list(names), self.task_manager, self.task_type)
        except Exception as error:  # lmms-eval wraps what process_docs raised (tenacity's RetryError)
            ours = _our_error(error)
            if ours is not None:
                raise ours from None
            raise TaskBuildError(f"lmms-eval could not build {', '.join(names)}: {type(error).__name__}: {error}") \
                from error
        return {output.task_name: output.task for output in get_task_list(task_dict) if output.task}

    def build(self, name: str, task: Any) -> LmmsTask:
        """The task's requests as `evaluate` builds them (after `_adjust_config`)."""
        from lmms_eval.evaluator_utils import get_sample_size

        if self._gen_kwargs is not None and "generate_until" in task.get_config("output_type"):
            task.set_config(key="generation_kwargs", value=dict(self._gen_kwargs), update=True)
        if task.get_config("num_fewshot") is None:
            task.set_config(key="num_fewshot", value=0)
        task.set_fewshot_seed(seed=self.options.seed[3])
        lm = self.lm
        apply_template = self.options.apply_chat_template
        task.build_all_requests(
            limit=get_sample_size(task, self.options.limit),
            offset=self.options.offset,
            rank=0,
            world_size=1,
            system_instruction=self.options.system_instruction,
            apply_chat_template=apply_template,
            fewshot_as_multiturn=False,
            chat_template=lm.apply_chat_template if apply_template else None,
            tokenizer_name=getattr(lm, "tokenizer_name", "") if apply_template else "",
        )
        docs = task.eval_docs_no_media
        instances: dict[str, Any] = {}
        for instance in task.instances:
            item_id = str(docs[instance.doc_id]["item_id"])
            if item_id in instances:
                raise ClinHalluTasksError(f"{name}: two documents carry item id {item_id!r}")
            instances[item_id] = instance
        if lm is not None:
            lm.task_dict[name] = task.dataset
        return LmmsTask(name, task, instances)

    # ------------------------------------------------------------ model

    def load_model(self) -> None:
        """Seed as simple_evaluate does, then make the one model instance of the run."""
        import numpy as np
        import torch

        seeds = self.options.seed
        if seeds[0] is not None:
            random.seed(seeds[0])
        if seeds[1] is not None:
            np.random.seed(seeds[1])
        if seeds[2] is not None:
            torch.manual_seed(seeds[2])
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ModelLoadError(
                "clinhallu-tasks run drives one process; for several GPUs use the backend's own "
                "parallelism (e.g. vllm tensor_parallel_size) instead of accelerate/torchrun."
            )
        options = self.options
        try:
            self.lm = self.model_class.create_from_arg_string(
                options.model_args,
                {"batch_size": options.batch_size, "max_batch_size": options.max_batch_size, "device": options.device},
            )
        except Exception as error:  # any backend's own failure: say which model, keep its message
            raise ModelLoadError(f"--model {options.model}: could not load: {type(error).__name__}: {error}") from error

    def generate(self, task: LmmsTask, item_ids: Sequence[str], chunk_size: int) -> Iterator[Mapping[str, Reply]]:
        """Ask the model once per item, `chunk_size` requests per call, yielding replies per call.

        Each attempt sends a fresh copy of the item's Instance (a backend may consume the
        generation_kwargs dict it is given), so a resampled request is the same request.
        A reply that is lmms-eval's request-failure marker is not a trace: it is not yielded,
        and after the pass a GenerationError says how many requests failed (a rerun asks again).
        """
        from lmms_eval.api.instance import unwrap_generation_output

        failures: list[str] = []
        for start in range(0, len(item_ids), chunk_size):
            chunk = list(item_ids[start:start + chunk_size])
            requests = [_fresh(task.instances[item_id]) for item_id in chunk]
            try:
                outputs = self.lm.generate_until(requests)
            except Exception as error:  # the backend's own failure (out of memory, a dead server, ...)
                raise GenerationError(f"{task.name}: the model failed: {type(error).__name__}: {error}") from error
            if len(outputs) != len(requests):
                raise GenerationError(
                    f"{task.name}: the model returned {len(outputs)} replies to {len(requests)} requests"
                )
            replies: dict[str, Reply] = {}
            for item_id, output in zip(chunk, outputs, strict=True):
                text, counts = unwrap_generation_output(output)
                text = text if isinstance(text, str) else ""
                if text.lstrip().startswith(REQUEST_FAILED_MARKER):
                    failures.append(f"{item_id}: {text.strip()[:300]}")
                    continue
                tokens = getattr(counts, "output_tokens", None) if counts is not None else None
                replies[item_id] = (text, tokens if isinstance(tokens, int) else None)
            yield replies
        if failures:
            listed = "\n".join(f"  {line}" for line in failures[:5])
            raise GenerationError(
                f"{task.name}: {len(failures)} request(s) failed after the backend's own retries "
                f"(their replies were not saved; rerun the same command to ask them again):\n{listed}"
            )


def _fresh(instance: Any) -> Any:
    """A copy of an Instance with its own copies of mutable arguments (generation_kwargs)."""
    arguments = tuple(copy.deepcopy(a) if isinstance(a, (dict, list)) else a for a in instance.args)
    return dataclasses.replace(instance, arguments=arguments, resps=[], filtered_resps={}, raw_filtered_resps={},
                               token_counts=[], metadata=dict(instance.metadata))


def versions() -> dict[str, str]:
    from clinhallu_tasks import __version__

    return {"clinhallu-tasks": __version__, "lmms-eval": lmms_eval_version(),
            "python": sys.version.split()[0]}


def model_name(options: ModelOptions) -> str:
    """The model as the records name it, as our lmms-eval hooks do: the name lmms-eval's tracker
    reads from --model_args (pretrained=, model=, model_version=, ...), else --model."""
    from lmms_eval.loggers.evaluation_tracker import GeneralConfigTracker

    return GeneralConfigTracker._get_model_name(options.model_args) or options.model


__all__ = [
    "REQUEST_FAILED_MARKER",
    "LmmsDriver",
    "LmmsTask",
    "ModelLoadError",
    "ModelOptions",
    "TaskBuildError",
    "configure_lmms_logging",
    "lmms_eval_version",
    "masked_output",
    "model_folder_name",
    "model_name",
    "versions",
]
