"""Stage 4, evaluate: rules x hosts (and the cluster) -> results, through the
compiled rule language (engine) and its operators."""
