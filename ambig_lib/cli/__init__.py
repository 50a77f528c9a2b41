"""The ``ambig`` command line: one entry point with subcommands."""
