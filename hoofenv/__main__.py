from hoofenv.commands.main import main

raise SystemExit(main())
