from hoofenv.cli import main

raise SystemExit(main())
