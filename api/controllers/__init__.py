"""HTTP controllers: parse, call a service, return a wire schema. Nothing else."""
