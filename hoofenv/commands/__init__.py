"""One module per subcommand. Each defines `add_parser(subparsers)` and keeps its top-level imports
light (argparse and hoofenv.errors only): every module is imported to build the parser, so a heavy import
here slows `hoofenv plan` for everyone."""
