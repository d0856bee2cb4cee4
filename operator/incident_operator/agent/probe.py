"""`incident-operator check --llm`: does the configured endpoint do tool calling?

One tiny request through the production model client (the configured provider, as the agent builds it):
a single tool, `probe_echo(word)`, and a prompt that asks for exactly one call of it. The answer tells
apart the ways a local model server fails the agent: not reachable, refusing tools (vLLM without
`--enable-auto-tool-choice`/`--tool-call-parser`), answering prose instead of calling the tool (a model or
template without tool support, e.g. on Ollama), or calling it with arguments that break its schema.
The model is asked once (no retries) for at most 256 output tokens; the tool's result is never sent back.
"""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .guard import schema_errors, strict

TOOL = "probe_echo"
SCHEMA = strict({"type": "object", "properties": {"word": {"type": "string", "description": "the word to echo"}},
                 "required": ["word"]})
PROMPT = f'Call the tool `{TOOL}` exactly once with {{"word": "ping"}}. Do not answer in text.'


def probe(s: Settings) -> tuple[bool, str]:
    """(tool calling works, what happened)."""
    from strands import Agent
    from strands.hooks import AfterToolsEvent
    from strands.tools.tools import PythonAgentTool

    from . import providers

    s = s.model_copy(update={"llm_max_tokens": 256, "llm_max_retries": 0, "llm_deadline_seconds": min(s.llm_deadline_seconds, 60)})
    calls: list[Any] = []

    def echo(tool_use: dict, **_: Any) -> dict:
        calls.append(tool_use.get("input"))
        return {"toolUseId": tool_use["toolUseId"], "status": "success", "content": [{"text": "pong"}]}

    def stop_after_the_call(event: Any) -> None:
        event.end_turn = True  # the answer is in; the tool result need not go back to the model

    try:
        model = providers.build(s)
        agent = Agent(model=model, tools=[PythonAgentTool(TOOL, {"name": TOOL, "description": "Echo a word back.",
                                                                "inputSchema": {"json": SCHEMA}}, echo)],
                      system_prompt="You are a connectivity probe for tool calling.", callback_handler=None,
                      retry_strategy=providers.retry_strategy(s))
        agent.hooks.add_callback(AfterToolsEvent, stop_after_the_call)
        agent(PROMPT)
    except Exception as exc:  # noqa: BLE001 - the endpoint's own words are the answer
        if not calls:
            code = providers.status_code(exc)
            return False, f"{'HTTP ' + str(code) + ' ' if code else ''}{type(exc).__name__}: {str(exc)[:300]}"
    target = f"{s.llm_provider} {providers.model_id(s)}" + (f" via {s.llm_base_url}" if s.llm_base_url else "")
    if not calls:
        return False, (f"{target} answered in text without calling the tool: no tool calling here (vLLM: "
                       "--enable-auto-tool-choice --tool-call-parser <parser>; Ollama: a model whose template supports tools)")
    errors = schema_errors(SCHEMA, calls[0] if calls[0] is not None else {})
    if errors:
        return False, f"{target} called the tool with invalid arguments ({'; '.join(errors)}): expect repairs and refusals"
    return True, f"{target} calls tools (probe_echo {calls[0]})"


__all__ = ["probe"]
