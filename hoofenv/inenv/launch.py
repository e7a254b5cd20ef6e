"""The one entry point hoofenv starts inside the managed env:

    ENV_PYTHON /path/to/hoofenv/inenv/launch.py ENTRY ARGS...      (ENTRY: protocol.ENTRIES)

Run by path, because the env need not have hoofenv installed. It registers this folder as the package
`hoofenv_inenv` (so its modules import each other relatively and `protocol` is shared), keeps the folder itself
off sys.path (none of its module names may shadow the stack's), and calls ENTRY's main(argv). torchrun starts it
the same way on every rank.
"""

import importlib
import importlib.util
import os
import sys

PACKAGE = "hoofenv_inenv"
HERE = os.path.dirname(os.path.abspath(__file__))


def load_package():
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == HERE:
        sys.path.pop(0)
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, os.path.join(HERE, "__init__.py"),
                                                      submodule_search_locations=[HERE])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{PACKAGE}.protocol")


def main() -> int:
    protocol = load_package()
    if len(sys.argv) < 2 or sys.argv[1] not in protocol.ENTRIES:
        sys.stderr.write(f"usage: launch.py {{{','.join(protocol.ENTRIES)}}} ARGS...\n")
        return protocol.EXIT_USAGE
    module = importlib.import_module(f"{PACKAGE}.{protocol.ENTRIES[sys.argv[1]]}")
    return module.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
