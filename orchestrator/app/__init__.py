"""Functions blueprints: the only modules that import azure.functions and azure.durable_functions."""
