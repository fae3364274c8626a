"""The inference engine: a queue, slots sharing one llama context, batched decode, streams."""
