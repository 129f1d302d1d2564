"""Everything that touches the outside world after a decision: GitHub, Slack, the LLM, reruns."""
