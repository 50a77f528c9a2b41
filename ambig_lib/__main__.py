"""``python -m ambig_lib <subcommand>``: the same command line as ``ambig``."""

from ambig_lib.cli.main import main

raise SystemExit(main())
