"""Everything about the model and its text: prompts, parsing, policies, scripted agents."""
