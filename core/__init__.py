"""Leaf code every layer may import: settings, id rules, text helpers, facts, embeddings."""
