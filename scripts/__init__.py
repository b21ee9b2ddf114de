"""Project scripts: the dependency audit and the configuration reference generator."""
