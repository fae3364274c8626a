"""One chat completion: the plain request the API hands over, the run, and its domain errors."""
