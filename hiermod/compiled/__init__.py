"""Compiled log-densities for nutpie: prior kernels, the C-vine map, the layout derived from a
PyMC model, and the glue that hands a callback to nutpie and maps its draws back."""
