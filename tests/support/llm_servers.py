"""The provider stand-ins moved to local_stack/llm_servers.py (`make eval` runs the scripted model too)."""

from local_stack.llm_servers import *  # noqa: F401,F403
from local_stack.llm_servers import AnthropicServer, OpenAIServer, ScriptedLlm, Step, answer, call_tool, fail, text  # noqa: F401
