"""Front ends of the expression dialects: Qlib expressions and WorldQuant BRAIN FASTEXPR.

Each front end (:mod:`~alpha_env.grammar.dialects.qlib`, :mod:`~alpha_env.grammar.dialects.brain`) has
tokenizer rules (a :class:`~alpha_env.grammar.dialects.surface.Syntax`) and a name table mapping its names
onto operators of the one table; ``alpha_env.grammar.parse(text, dialect=...)`` calls them.
"""

__all__: list[str] = []
