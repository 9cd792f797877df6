"""Search over research and feedback: the index of research text (`index`) and the one
search that answers "what do we already know about X" (`service`)."""
