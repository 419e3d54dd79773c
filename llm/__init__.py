"""The model clients: ChatOpenAI per agent and the streaming transport under it."""
