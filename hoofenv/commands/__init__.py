"""The CLI: one module per subcommand (parser, run, rendering), main.py for dispatch, options.py for the flags
several commands share, output.py for every printed line. Nothing outside this package prints or imports it."""
