"""The respot in-VM agent (standard library only): see respot_agent.py and docs/agent.md."""
