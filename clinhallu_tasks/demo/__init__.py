"""`clinhallu-tasks demo`: an install check with a tiny random model, then a SIMULATION.

- `run.run_demo`: the command;
- `tiny`: part 1, a tiny random-weight LLaVA (`tiny_model`) through lmms-eval's llava_hf;
- `simulation`: part 2, a scripted model (`scripted_model`) and judge (`scripted_judge`) served by
  `chat_server.ChatServer`, the real lmms-eval CLI (`lmms_process`), then the report;
- `layout`: the work folder and the subprocesses' environment.
"""

from clinhallu_tasks.demo.run import run_demo

__all__ = ["run_demo"]
