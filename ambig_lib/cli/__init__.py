"""The ``ambig`` command line (also ``python -m ambig_lib``): one entry point, one subcommand per stage.

``ambig generate | inspect | train | evaluate | llm-direct | export | predict | latency | study`` follow the
pipeline; ``reproduce``, ``datasets`` and ``strategies`` are the study's tools. Each subcommand is one module
here exposing ``add_arguments(parser)`` and ``run(args) -> int``; its docstring's first line is the summary in
``ambig --help`` and the lines under ``Example::`` its ``--help`` example; :mod:`ambig_lib.cli.common` holds the shared
options (``--option k=v``, ``--offline``, ``--threads``) and the error handling (exit 0 success, 2 user error
in one line, 1 internal error), and :mod:`ambig_lib.cli.main` assembles the parser. Library modules hold no
``argparse``.
"""
