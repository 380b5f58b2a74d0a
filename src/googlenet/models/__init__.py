"""Model families. Every module here registers its builders with :mod:`googlenet.registry` on import."""
