"""Channel adapters: other doors into the squad, each on `ChatService.prepare` + `stream`."""
