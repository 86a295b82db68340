"""Running activations: the worker, and the builtin, webhook and SDK runtimes."""
