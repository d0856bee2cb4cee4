"""The LLM agent: strands-agents with a choice of model provider (Bedrock, Anthropic, OpenAI-compatible, LiteLLM), the deterministic analyzer as its floor."""
