"""Everything about the model and its text: prompts, parsing, policies, scripted agents."""
import os

# torch's OpenMP threads spin while idle by default, which makes generation many times slower when
# environment workers share the cores; this must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
