"""The knowledge base: documents in, chunks, embeddings, stores and cited retrieval."""
