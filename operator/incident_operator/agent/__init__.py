"""The LLM agent: strands + Claude on Bedrock, with the deterministic analyzer as its floor."""
